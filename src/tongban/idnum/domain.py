"""Resident ID numbers (GB 11643-1999): validate, parse, normalise, convert, make.

18 characters: a 6-digit address code (GB/T 2260), the birth date ``YYYYMMDD``, a 3-digit sequence (odd for
men, even for women) and a check character (ISO 7064 MOD 11-2). First-generation numbers had 15 digits:
the same without the century and the check character.

Plain Python. The address code must be a division code that existed at some time (at any level: numbers
were issued under codes later abolished, and under prefecture codes); by default it is checked against the
shipped divisions catalog, loaded at the first check. (Residence permits of Hong Kong, Macao and Taiwan
residents use the same format with 810000, 820000 and 830000; 830000 is no division code and is rejected.)
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from operator import mul
from typing import Any, ClassVar

from tongban.core.errors import InvalidInput
from tongban.core.i18n import N_

WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
#: The earliest birth date accepted (the system dates from 1984; this allows the oldest residents' dates).
EARLIEST_BIRTH = date(1800, 1, 1)


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Reason(StrEnum):
    """Why a number is invalid: a stable code for programs, with a message for people."""

    LENGTH = "length"
    CHARACTERS = "characters"
    AREA = "area"
    DATE = "date"
    FUTURE = "future"
    CHECK = "check"


_MESSAGES: dict[Reason, str] = {
    Reason.LENGTH: N_(
        "An ID number has 18 characters (or 15 digits for a first-generation number); got {length}"
    ),
    Reason.CHARACTERS: N_("An ID number is made of digits, with X only as the last character"),
    Reason.AREA: N_("The address code {area} is not a division code that ever existed"),
    Reason.DATE: N_("The birth date {birth} is not a real calendar date"),
    Reason.FUTURE: N_("The birth date {birth} is in the future"),
    Reason.CHECK: N_("The check character is {actual} but should be {expected}"),
}


class InvalidIdNumber(InvalidInput):
    """An ID number that is not valid; ``reason`` says why (and ``expected`` the right check character)."""

    code: ClassVar[str] = "invalid-id-number"
    title: ClassVar[str] = N_("Invalid ID number")

    def __init__(self, reason: Reason | str, /, *, expected: str | None = None, **params: Any) -> None:
        self.reason = Reason(reason)
        self.expected = expected
        params["reason"] = self.reason.value
        if expected is not None:
            params["expected"] = expected
        super().__init__(_MESSAGES[self.reason], **params)


@dataclass(frozen=True)
class IdNumber:
    """A valid 18-character ID number and its parts."""

    number: str
    area: str
    birth_date: date
    sequence: int
    sex: Sex
    check: str

    @property
    def masked(self) -> str:
        """The number with the birth date and sequence hidden (``110105********002X``): for display and logs."""
        return self.number[:6] + "*" * 8 + self.number[14:]

    def __str__(self) -> str:
        return self.number


def mod11_2(digits: str) -> str:
    """The bare ISO 7064 MOD 11-2 arithmetic over ASCII digits, unchecked (the benchmark's baseline)."""
    return CHECK_CHARACTERS[sum(map(mul, map(int, digits), WEIGHTS)) % 11]


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("check_character needs exactly 17 ASCII digits")
    return mod11_2(first17)


def normalize(s: str) -> str:
    """Trim, drop inner spaces and hyphens, turn full-width forms into ASCII, and ``x`` into ``X``."""
    text = s if s.isascii() else unicodedata.normalize("NFKC", s)
    text = "".join(text.split())
    if "-" in text:
        text = text.replace("-", "")
    return text.upper()


def _default_area_exists(area: str) -> bool:
    from tongban.divisions.domain import get_catalog

    return get_catalog().ever_existed(area)


def _parse_date(digits: str) -> date:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidIdNumber(Reason.DATE, birth=f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}") from None
    if born < EARLIEST_BIRTH:
        raise InvalidIdNumber(Reason.DATE, birth=born.isoformat())
    return born


def parse_id(
    s: str,
    *,
    today: date | None = None,
    area_exists: Callable[[str], bool] | None = None,
) -> IdNumber:
    """Validate an 18-character ID number and return its parts; raise :class:`InvalidIdNumber` if it is not valid.

    Checked in order: length, characters, address code (``area_exists``, default: a code in the divisions
    catalog at any time), birth date (a real date, not after ``today``), check character.
    """
    number = normalize(s)
    if len(number) != 18:
        raise InvalidIdNumber(Reason.LENGTH, length=len(number))
    first17, last = number[:17], number[17]
    if not (first17.isascii() and first17.isdigit() and (last.isdigit() or last == "X") and last.isascii()):
        raise InvalidIdNumber(Reason.CHARACTERS)
    area = number[:6]
    if not (area_exists or _default_area_exists)(area):
        raise InvalidIdNumber(Reason.AREA, area=area)
    born = _parse_date(number[6:14])
    if born > (today or date.today()):
        raise InvalidIdNumber(Reason.FUTURE, birth=born.isoformat())
    expected = mod11_2(first17)
    if last != expected:
        raise InvalidIdNumber(Reason.CHECK, expected=expected, actual=last)
    sequence = int(number[14:17])
    return IdNumber(
        number=number,
        area=area,
        birth_date=born,
        sequence=sequence,
        sex=Sex.MALE if sequence % 2 else Sex.FEMALE,
        check=last,
    )


def is_valid(s: str, *, today: date | None = None, area_exists: Callable[[str], bool] | None = None) -> bool:
    try:
        parse_id(s, today=today, area_exists=area_exists)
    except InvalidIdNumber:
        return False
    return True


def upgrade_15(s: str, *, today: date | None = None, area_exists: Callable[[str], bool] | None = None) -> str:
    """The 18-character form of a 15-digit first-generation number (born 19xx): insert ``19``, add the check.

    The result is validated like any number (address code, date); raises :class:`InvalidIdNumber`.
    """
    number = normalize(s)
    if len(number) != 15:
        raise InvalidIdNumber(Reason.LENGTH, length=len(number))
    if not (number.isascii() and number.isdigit()):
        raise InvalidIdNumber(Reason.CHARACTERS)
    first17 = number[:6] + "19" + number[6:]
    upgraded = first17 + check_character(first17)
    return parse_id(upgraded, today=today, area_exists=area_exists).number


def parse_any(
    s: str, *, today: date | None = None, area_exists: Callable[[str], bool] | None = None
) -> IdNumber:
    """Parse an 18-character number, or a 15-digit one after converting it to 18."""
    number = normalize(s)
    if len(number) == 15:
        number = upgrade_15(number, today=today, area_exists=area_exists)
    return parse_id(number, today=today, area_exists=area_exists)


def make_id_number(area: str, birth_date: date, sequence: int) -> str:
    """A well-formed number from its parts (for synthetic data and tests; sequence 1..999, odd male, even female)."""
    if len(area) != 6 or not area.isascii() or not area.isdigit():
        raise ValueError("area must be 6 ASCII digits")
    if not 1 <= sequence <= 999:
        raise ValueError("sequence must be 1..999")
    if not date(1000, 1, 1) <= birth_date <= date(9999, 12, 31):
        raise ValueError("birth date out of range")
    first17 = f"{area}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)
