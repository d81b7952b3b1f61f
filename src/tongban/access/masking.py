"""Masking of personal data in lists: ID numbers, phone numbers, names (plain Python)."""

from __future__ import annotations

from tongban.access.domain import Allow, Principal, Target, decide


def mask_id(id_number: str) -> str:
    """``11010519491231002X`` → ``110105********002X``: area code and the last four kept.

    Anything that is not an 18- (or legacy 15-) character number is masked whole but its length.
    """
    value = id_number.strip()
    if len(value) == 18:
        return value[:6] + "*" * 8 + value[-4:]
    if len(value) == 15:
        return value[:6] + "*" * 6 + value[-3:]
    return "*" * len(value)


def mask_phone(phone: str) -> str:
    """``13812345678`` → ``138****5678``; other lengths keep only their last four digits."""
    digits = phone.strip()
    if len(digits) == 11 and digits.isdigit():
        return digits[:3] + "****" + digits[-4:]
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def mask_name(name: str) -> str:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``: the first character kept."""
    if len(name) <= 1:
        return name
    return name[0] + "*" * (len(name) - 1)


def may_unmask(principal: Principal | None, *, person_division: str | None, open_case: bool) -> bool:
    """Whether a list may show a person's numbers in full to ``principal``.

    Only staff who may update the person's record in its division, and only while an open case of theirs
    concerns the person; a citizen sees their own numbers in full.
    """
    if principal is None:
        return False
    if principal.person_ref is not None and not principal.is_staff:
        return False  # a citizen's lists never carry other people; their own record page shows it whole
    if not open_case:
        return False
    decision = decide(principal, "registry.person.update", Target(division_code=person_division))
    return isinstance(decision, Allow)


def present_id(
    principal: Principal | None, id_number: str, *, person_division: str | None, open_case: bool = False
) -> str:
    """An ID number as a list may show it to ``principal``."""
    if may_unmask(principal, person_division=person_division, open_case=open_case):
        return id_number
    return mask_id(id_number)


def present_phone(
    principal: Principal | None, phone: str, *, person_division: str | None, open_case: bool = False
) -> str:
    if may_unmask(principal, person_division=person_division, open_case=open_case):
        return phone
    return mask_phone(phone)
