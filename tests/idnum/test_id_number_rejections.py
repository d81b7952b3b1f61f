"""Each way an ID number can be wrong gives its own reason."""

from __future__ import annotations

from datetime import date

import pytest

from tongban.core.errors import InvalidInput
from tongban.core.i18n import gettext
from tongban.idnum.domain import (
    InvalidIdNumber,
    Reason,
    check_character,
    is_valid,
    make_id_number,
    parse_id,
    upgrade_15,
)

TODAY = date(2025, 6, 30)


def reason(number: str, **kwargs: object) -> Reason:
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id(number, today=TODAY, **kwargs)  # type: ignore[arg-type]
    return caught.value.reason


def test_reasons() -> None:
    assert reason("11010519491231002") is Reason.LENGTH
    assert reason("") is Reason.LENGTH
    assert reason("1101051949123100XX") is Reason.CHARACTERS
    assert reason("11010519491231002Y") is Reason.CHARACTERS
    assert reason("11010519491231００2X".replace("０", "O")) is Reason.CHARACTERS
    assert reason(make_id_number("999999", date(1990, 1, 1), 1)) is Reason.AREA
    assert reason("110105" + "19900230" + "001" + check_character("11010519900230001")) is Reason.DATE
    assert reason("110105" + "19001301" + "001" + check_character("11010519001301001")) is Reason.DATE
    assert reason(make_id_number("110105", date(2025, 7, 1), 1)) is Reason.FUTURE
    assert reason("110105194912310021") is Reason.CHECK


def test_check_order_length_before_everything() -> None:
    assert reason("999999") is Reason.LENGTH


def test_abolished_and_prefecture_codes_are_valid_areas() -> None:
    assert is_valid(make_id_number("110103", date(1980, 5, 1), 11), today=TODAY)  # 崇文区, abolished 2010
    assert is_valid(make_id_number("132201", date(1984, 5, 1), 11), today=TODAY)  # a reused code
    assert is_valid(make_id_number("140400", date(1984, 5, 1), 11), today=TODAY)  # a prefecture code


def test_area_check_can_be_replaced() -> None:
    number = make_id_number("999999", date(1990, 1, 1), 1)
    assert is_valid(number, today=TODAY, area_exists=lambda area: True)
    assert not is_valid(
        make_id_number("110105", date(1990, 1, 1), 1), today=TODAY, area_exists=lambda a: False
    )


def test_error_is_an_invalid_input_with_a_translated_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_id("110105194912310021", today=TODAY)
    error = caught.value
    assert isinstance(error, InvalidIdNumber) and error.status == 422
    assert error.expected == "X" and error.params == {"expected": "X", "actual": "1", "reason": "check"}
    assert gettext("zh_CN", error.message, **error.params) == "校验码为 1，应为 X"
    assert "0021" not in error.render()  # messages never carry the whole number


def test_upgrade_rejects_bad_input() -> None:
    with pytest.raises(InvalidIdNumber) as length:
        upgrade_15("11010549123100")
    assert length.value.reason is Reason.LENGTH
    with pytest.raises(InvalidIdNumber) as chars:
        upgrade_15("11010549123100X")
    assert chars.value.reason is Reason.CHARACTERS
    with pytest.raises(InvalidIdNumber) as day:
        upgrade_15("110105490231002")
    assert day.value.reason is Reason.DATE
    assert upgrade_15("110105491231002") == "11010519491231002X"


def test_make_rejects_bad_parts() -> None:
    for args in (
        ("11010", date(1990, 1, 1), 1),
        ("110105", date(1990, 1, 1), 0),
        ("110105", date(1990, 1, 1), 1000),
    ):
        with pytest.raises(ValueError):
            make_id_number(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        check_character("1234")
