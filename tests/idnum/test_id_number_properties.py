"""Validation, parsing and conversion of ID numbers (GB 11643-1999), as properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tongban.idnum.domain import (
    InvalidIdNumber,
    Reason,
    Sex,
    check_character,
    is_valid,
    make_id_number,
    normalize,
    parse_id,
    upgrade_15,
)

TODAY = date(2025, 6, 30)


def any_area(area: str) -> bool:
    return True


areas = st.from_regex(r"[1-8][0-9]{5}", fullmatch=True)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=1, max_value=999)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    return make_id_number(draw(areas), draw(births), draw(sequences))


def test_published_samples() -> None:
    parsed = parse_id("11010519491231002X", today=TODAY)
    assert (parsed.area, parsed.birth_date, parsed.sex, parsed.sequence) == (
        "110105",
        date(1949, 12, 31),
        Sex.FEMALE,
        2,
    )
    assert parsed.check == "X" and parsed.masked == "110105********002X"
    sample2 = parse_id("440524188001010014", today=TODAY)
    assert (sample2.birth_date, sample2.sex, sample2.sequence) == (date(1880, 1, 1), Sex.MALE, 1)


@given(areas, births, sequences)
def test_make_then_parse_gives_the_parts_back(area: str, born: date, sequence: int) -> None:
    number = make_id_number(area, born, sequence)
    parsed = parse_id(number, today=TODAY, area_exists=any_area)
    assert (parsed.area, parsed.birth_date, parsed.sequence) == (area, born, sequence)
    assert parsed.sex is (Sex.MALE if sequence % 2 else Sex.FEMALE)
    assert parsed.number == number and parsed.check == number[-1]
    assert parsed.masked == number[:6] + "********" + number[14:]


@given(valid_numbers(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_rejected(number: str, position: int, replacement: str) -> None:
    assume(number[position] != replacement)
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(InvalidIdNumber):
        parse_id(changed, today=TODAY, area_exists=any_area)


@given(valid_numbers(), st.integers(min_value=0, max_value=16))
def test_swapping_adjacent_different_digits_is_rejected_or_unchanged(number: str, position: int) -> None:
    a, b = number[position], number[position + 1]
    assume(a != b and a != "X" and b != "X")
    swapped = number[:position] + b + a + number[position + 2 :]
    assert not is_valid(swapped, today=TODAY, area_exists=any_area)


@given(valid_numbers(), st.sampled_from([" ", "\t", "\n", ""]))
def test_lower_case_x_and_spaces_are_normalised(number: str, pad: str) -> None:
    messy = pad + number.lower() + pad
    parsed = parse_id(messy, today=TODAY, area_exists=any_area)
    assert parsed.number == number and "x" not in parsed.number


@given(valid_numbers())
def test_full_width_digits_are_normalised(number: str) -> None:
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    assert normalize(full_width) == number
    assert parse_id(full_width, today=TODAY, area_exists=any_area).number == number


@given(areas, st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), sequences)
def test_15_digit_numbers_convert_to_18(area: str, born: date, sequence: int) -> None:
    old = f"{area}{born:%y%m%d}{sequence:03d}"
    new = upgrade_15(old, today=TODAY, area_exists=any_area)
    assert new == make_id_number(area, born, sequence)
    assert new[:6] + new[8:17] == old
    assert new[17] == check_character(new[:17])


@given(st.text(max_size=25))
def test_arbitrary_text_is_rejected_or_parses_consistently(text: str) -> None:
    try:
        parsed = parse_id(text, today=TODAY, area_exists=any_area)
    except InvalidIdNumber as error:
        assert error.reason in set(Reason)
        return
    assert len(parsed.number) == 18 and parsed.check == check_character(parsed.number[:17])


@given(valid_numbers())
def test_wrong_check_character_names_the_expected_one(number: str) -> None:
    wrong = "0" if number[-1] != "0" else "1"
    with pytest.raises(InvalidIdNumber) as caught:
        parse_id(number[:17] + wrong, today=TODAY, area_exists=any_area)
    assert caught.value.reason is Reason.CHECK
    assert caught.value.expected == number[-1]
    assert number[-1] in caught.value.render()
