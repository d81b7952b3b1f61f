"""Fuzzing the ID number parser: any text raises only ``InvalidIdNumber``; any changed character is caught."""

from __future__ import annotations

from datetime import date

from hypothesis import example, given
from hypothesis import strategies as st

from tongban.idnum.domain import InvalidIdNumber, is_valid, make_id_number, parse_any, parse_id, upgrade_15

TODAY = date(2025, 6, 30)
ALPHABET = "0123456789X"


def any_area(area: str) -> bool:
    return True


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    area = draw(st.from_regex(r"[1-8][0-9]{5}", fullmatch=True))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    return make_id_number(area, born, draw(st.integers(min_value=1, max_value=999)))


# Text near the format (digits, X, separators, full-width and other Unicode digits) and anything at all.
NEAR = st.text(alphabet="0123456789Xx -\u3000０１２３４５６７８９Ｘ٣①²", min_size=10, max_size=22)


@given(text=st.one_of(st.text(max_size=40), NEAR))
@example(text="11010519491231002X")
@example(text="110105194912310")
@example(text="000000000000000")
@example(text="110105999913310021")
@example(text="11010500000000002X")
@example(text="\u0000" * 18)
@example(text="①" * 18)
def test_any_text_raises_only_invalid_id_number(text: str) -> None:
    for parse in (parse_id, parse_any, upgrade_15):
        try:
            parse(text, today=TODAY)
        except InvalidIdNumber as exc:
            assert exc.status == 422 and exc.reason
    assert is_valid(text, today=TODAY) in (True, False)


@given(
    number=valid_numbers(),
    position=st.integers(min_value=0, max_value=17),
    replacement=st.sampled_from(ALPHABET),
)
def test_every_changed_character_is_rejected(number: str, position: int, replacement: str) -> None:
    assert parse_id(number, today=TODAY, area_exists=any_area).number == number
    if number[position] == replacement:
        replacement = ALPHABET[(ALPHABET.index(replacement) + 1) % len(ALPHABET)]
    changed = number[:position] + replacement + number[position + 1 :]
    assert not is_valid(changed, today=TODAY, area_exists=any_area)


@given(number=valid_numbers(), position=st.integers(min_value=0, max_value=16))
def test_swapped_neighbours_are_rejected(number: str, position: int) -> None:
    a, b = number[position], number[position + 1]
    if a == b:
        return
    swapped = number[:position] + b + a + number[position + 2 :]
    assert not is_valid(swapped, today=TODAY, area_exists=any_area)


@given(number=valid_numbers(), cut=st.integers(min_value=0, max_value=17), extra=st.sampled_from(ALPHABET))
def test_dropped_or_added_characters_are_rejected(number: str, cut: int, extra: str) -> None:
    assert not is_valid(number[:cut] + number[cut + 1 :], today=TODAY, area_exists=any_area)
    assert not is_valid(number[:cut] + extra + number[cut:], today=TODAY, area_exists=any_area)
