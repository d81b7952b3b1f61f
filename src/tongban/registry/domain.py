"""The registry's rules, in plain Python: statuses and their transitions, households, names, ethnicities.

A person's registration in a node moves through ``RegistrationStatus`` only by the journal events of the
transition table below; anything else raises ``Conflict`` before a row is written. Names are stored exactly
as given (middle-dot minority names, characters outside the Basic Multilingual Plane); the only checks are
that a name is present, not too long and holds no control characters.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from enum import StrEnum

from tongban.core.errors import Conflict, InvalidInput
from tongban.core.i18n import N_
from tongban.divisions.domain import get_catalog


class RegistrationStatus(StrEnum):
    """Where a person stands in this node's registry."""

    ACTIVE = "active"  # registered in a household of this node
    IN_TRANSIT = "in_transit"  # moved out for a migration, not yet moved in elsewhere (owned by a case)
    MOVED_OUT = "moved_out"  # registered in another node now; the record stays here
    CANCELLED = "cancelled"  # cancelled for a reason other than death (emigration, duplicate, ...)
    DECEASED = "deceased"


class JournalEvent(StrEnum):
    """What an entry of a person's append-only registration journal records."""

    BORN = "born"
    MOVED_IN = "moved_in"
    MOVED_OUT = "moved_out"
    IN_TRANSIT = "in_transit"
    RESTORED = "restored"
    CANCELLED = "cancelled"
    DECEASED = "deceased"
    CORRECTED = "corrected"


S = RegistrationStatus
E = JournalEvent

# (status before, event) -> status after. ``None`` is "never registered in this node".
# A move within the node is recorded as MOVED_OUT then MOVED_IN on the same day.
TRANSITIONS: dict[tuple[RegistrationStatus | None, JournalEvent], RegistrationStatus] = {
    (None, E.BORN): S.ACTIVE,
    (None, E.MOVED_IN): S.ACTIVE,
    (S.MOVED_OUT, E.MOVED_IN): S.ACTIVE,
    (S.ACTIVE, E.MOVED_OUT): S.MOVED_OUT,
    (S.ACTIVE, E.IN_TRANSIT): S.IN_TRANSIT,
    (S.IN_TRANSIT, E.RESTORED): S.ACTIVE,  # the destination abandoned the migration
    (S.IN_TRANSIT, E.MOVED_OUT): S.MOVED_OUT,  # the destination registered the move-in
    (S.ACTIVE, E.CANCELLED): S.CANCELLED,
    (S.ACTIVE, E.DECEASED): S.DECEASED,
    (S.CANCELLED, E.RESTORED): S.ACTIVE,  # e.g. return from settling abroad, on a case
    (S.DECEASED, E.RESTORED): S.ACTIVE,  # a declaration of death revoked, on a case
}
# A correction changes an item of the record, never the status.
for _status in RegistrationStatus:
    TRANSITIONS[(_status, E.CORRECTED)] = _status

# Events after which the person belongs to a household of this node.
HOUSEHOLD_EVENTS = frozenset({E.BORN, E.MOVED_IN, E.RESTORED})


def next_status(current: RegistrationStatus | None, event: JournalEvent) -> RegistrationStatus:
    """The status after ``event``, or ``Conflict`` when the table does not allow it."""
    after = TRANSITIONS.get((current, event))
    if after is None:
        raise Conflict(
            N_("A person whose registration is {status} cannot be recorded as {event}."),
            status=current.value if current else "unregistered",
            event=event.value,
        )
    return after


class HouseholdKind(StrEnum):
    FAMILY = "family"  # 家庭户
    COLLECTIVE = "collective"  # 集体户 (a school, a unit): no head required


class Relation(StrEnum):
    """Relation to the head of household (GA 214.1 groups, simplified)."""

    HEAD = "head"
    SPOUSE = "spouse"
    CHILD = "child"
    CHILD_IN_LAW = "child_in_law"
    GRANDCHILD = "grandchild"
    PARENT = "parent"
    PARENT_IN_LAW = "parent_in_law"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER_RELATIVE = "other_relative"
    NON_RELATIVE = "non_relative"
    COLLECTIVE_MEMBER = "collective_member"


class CancelReason(StrEnum):
    DEATH = "death"
    EMIGRATION = "emigration"  # settled abroad
    MILITARY_SERVICE = "military_service"
    DUPLICATE = "duplicate"  # registered twice: this record is the one removed
    OTHER = "other"

    @property
    def event(self) -> JournalEvent:
        return E.DECEASED if self is CancelReason.DEATH else E.CANCELLED


def check_membership(kind: HouseholdKind, relation: Relation, *, has_head: bool, has_members: bool) -> None:
    """Whether a person may join a household of ``kind`` with ``relation``."""
    if kind is HouseholdKind.COLLECTIVE:
        if relation not in (Relation.HEAD, Relation.COLLECTIVE_MEMBER):
            raise InvalidInput(
                N_("A collective household has only its head and collective members, not {relation}."),
                relation=relation.value,
            )
        if relation is Relation.HEAD and has_head:
            raise Conflict(N_("This household already has a head."))
        return
    if relation is Relation.COLLECTIVE_MEMBER:
        raise InvalidInput(N_("A family household has no collective members."))
    if relation is Relation.HEAD and has_head:
        raise Conflict(N_("This household already has a head."))
    if relation is not Relation.HEAD and not has_head:
        raise Conflict(
            N_("A family household's first member must be its head.")
            if not has_members
            else N_("This household has no head: appoint one first.")
        )


MAX_NAME_LENGTH = 64


def check_name(name: str) -> str:
    """The name exactly as given, or ``InvalidInput``. No normalisation: names are stored as written."""
    if not name or not name.strip():
        raise InvalidInput(N_("A name is required."))
    if name != name.strip():
        raise InvalidInput(N_("A name must not begin or end with spaces."))
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(N_("A name has at most {n} characters."), n=MAX_NAME_LENGTH)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in name):
        raise InvalidInput(N_("A name must not contain control or unassigned characters."))
    return name


# GB/T 3304-1991 ethnicity codes.
ETHNICITIES: dict[str, str] = {
    "01": "汉族", "02": "蒙古族", "03": "回族", "04": "藏族", "05": "维吾尔族", "06": "苗族", "07": "彝族",
    "08": "壮族", "09": "布依族", "10": "朝鲜族", "11": "满族", "12": "侗族", "13": "瑶族", "14": "白族",
    "15": "土家族", "16": "哈尼族", "17": "哈萨克族", "18": "傣族", "19": "黎族", "20": "傈僳族", "21": "佤族",
    "22": "畲族", "23": "高山族", "24": "拉祜族", "25": "水族", "26": "东乡族", "27": "纳西族", "28": "景颇族",
    "29": "柯尔克孜族", "30": "土族", "31": "达斡尔族", "32": "仫佬族", "33": "羌族", "34": "布朗族",
    "35": "撒拉族", "36": "毛南族", "37": "仡佬族", "38": "锡伯族", "39": "阿昌族", "40": "普米族",
    "41": "塔吉克族", "42": "怒族", "43": "乌孜别克族", "44": "俄罗斯族", "45": "鄂温克族", "46": "德昂族",
    "47": "保安族", "48": "裕固族", "49": "京族", "50": "塔塔尔族", "51": "独龙族", "52": "鄂伦春族",
    "53": "赫哲族", "54": "门巴族", "55": "珞巴族", "56": "基诺族", "97": "其他未识别民族",
    "98": "外国血统中国籍人士",
}  # fmt: skip


def check_ethnicity(code: str) -> str:
    if code not in ETHNICITIES:
        raise InvalidInput(N_("Unknown ethnicity code {code}."), code=code)
    return code


HOUSEHOLD_NUMBER_MAX = 20


def check_household_number(number: str) -> str:
    if not number or len(number) > HOUSEHOLD_NUMBER_MAX or not number.isascii() or not number.isalnum():
        raise InvalidInput(N_("A household number is 1 to {n} letters or digits."), n=HOUSEHOLD_NUMBER_MAX)
    return number


def same_province(code: str, node_code: str) -> bool:
    return code[:2] == node_code[:2]


def check_division(code: str, node_code: str, *, in_use: bool) -> str:
    """A division code known to the catalog (ever, or in use now) and belonging to the node's province."""
    catalog = get_catalog()
    known = catalog.in_use(code) if in_use else catalog.ever_existed(code)
    if not known:
        raise InvalidInput(N_("Unknown division code {code}."), code=code)
    if not same_province(code, node_code) or code[2:] == "0000":
        raise InvalidInput(N_("Division {code} is not a place of registration of this node."), code=code)
    return code


def check_birthplace(code: str) -> str:
    if not get_catalog().ever_existed(code):
        raise InvalidInput(N_("Unknown division code {code}."), code=code)
    return code


def check_not_before(on_date: date, last: date | None) -> None:
    """Journal dates never go backwards: ``status on a date`` reads the journal in date order."""
    if last is not None and on_date < last:
        raise Conflict(
            N_("The date {date} is before the person's last registration event ({last})."),
            date=on_date.isoformat(),
            last=last.isoformat(),
        )


CORRECTABLE = ("id_number", "name", "sex", "birth_date", "ethnicity", "birthplace")


class HouseholdEvent(StrEnum):
    """What an entry of a household's journal records."""

    ADDRESS_CORRECTED = "address_corrected"
    HEAD_CHANGED = "head_changed"


MAX_ADDRESS_LENGTH = 200


def check_address(address: str) -> str:
    if not address.strip() or len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidInput(N_("An address of 1 to 200 characters is required."))
    return address


def check_head_change(
    kind: HouseholdKind,
    *,
    new_head_is_member: bool,
    new_head_is_head: bool,
    has_head: bool,
    old_head_relation: Relation | None,
) -> None:
    """Whether a current member may become the head of a household of ``kind``.

    The new head must be an active member (not the head already). A household with a head gives the old
    head a new relation that fits the household (not ``head``; ``collective_member`` exactly in a collective
    household); a household without one (a collective, or a family whose head left) takes no such relation.
    The other members keep their relations: the rules ask nothing of them.
    """
    if not new_head_is_member:
        raise Conflict(N_("The new head must be an active member of the household."))
    if new_head_is_head:
        raise Conflict(N_("This person already heads the household."))
    if not has_head:
        if old_head_relation is not None:
            raise InvalidInput(N_("The household has no head to give a new relation."))
        return
    if old_head_relation is None:
        raise InvalidInput(N_("Give the old head's new relation to the new head."))
    if old_head_relation is Relation.HEAD:
        raise InvalidInput(N_("A household has one head: give the old head another relation."))
    if (kind is HouseholdKind.COLLECTIVE) != (old_head_relation is Relation.COLLECTIVE_MEMBER):
        raise InvalidInput(
            N_("A household of kind {kind} has no members with relation {relation}."),
            kind=kind.value,
            relation=old_head_relation.value,
        )
