"""ID and phone numbers are masked in lists unless the role and an open case allow more."""

from __future__ import annotations

from tongban.access.domain import Principal, PrincipalKind, Role
from tongban.access.masking import mask_id, mask_name, mask_phone, present_id, present_phone


def test_id_numbers_keep_area_code_and_last_four() -> None:
    assert mask_id("11010519491231002X") == "110105********002X"
    assert mask_id("440524188001010014") == "440524********0014"
    assert mask_id("110105491231002") == "110105******002"
    assert mask_id("abc") == "***"


def test_phone_numbers_and_names() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("010-6512345") == "*******2345"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧***"


def _staff(role: Role) -> Principal:
    return Principal(
        id="1",
        kind=PrincipalKind.STAFF,
        role=role,
        display_name="x",
        node="110000",
        division_code="110105",
        office_code="OFF-A",
    )


def test_full_numbers_only_with_role_and_open_case_in_scope() -> None:
    reviewer, clerk = _staff(Role.REVIEWER), _staff(Role.WINDOW_CLERK)
    n = "11010519491231002X"
    assert present_id(reviewer, n, person_division="110105", open_case=True) == n
    assert present_id(reviewer, n, person_division="110105", open_case=False) == mask_id(n)
    assert present_id(reviewer, n, person_division="310101", open_case=True) == mask_id(n)
    assert present_id(clerk, n, person_division="110105", open_case=True) == mask_id(n)
    assert present_id(None, n, person_division="110105", open_case=True) == mask_id(n)
    assert present_phone(reviewer, "13812345678", person_division="110105", open_case=True) == "13812345678"
    assert present_phone(clerk, "13812345678", person_division="110105") == "138****5678"
