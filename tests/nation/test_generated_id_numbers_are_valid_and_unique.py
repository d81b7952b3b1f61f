"""Every ID number of a generated nation is valid, unique, and built from a county code of its first year."""

from __future__ import annotations

from tongban.divisions.domain import get_catalog
from tongban.idnum.domain import Sex, parse_id
from tongban.nation.domain import AS_OF, FIRST_ID_YEAR
from tongban.nation.generator import generate_province


def test_every_id_number_is_valid_and_none_repeats() -> None:
    catalog = get_catalog()
    numbers: list[str] = []
    for code in ("110000", "650000"):
        nation = generate_province(code, 4000, seed=7, other_provinces=("110000", "650000"))
        for person in nation.persons:
            parsed = parse_id(person.id_number, today=AS_OF)
            assert parsed.birth_date == person.birth_date
            assert parsed.sex == (Sex.MALE if person.sex == "male" else Sex.FEMALE)
            # The area is a county of the hukou province in use in the year of first registration.
            first_year = max(person.birth_date.year, FIRST_ID_YEAR)
            division = catalog.get(parsed.area, first_year)
            assert division is not None, (parsed.area, first_year)
            assert division.province_code == code
            assert division.level == "county"
            numbers.append(person.id_number)
    assert len(numbers) == 8000
    assert len(set(numbers)) == len(numbers)


def test_people_first_registered_in_a_county_that_was_later_abolished_keep_its_code() -> None:
    catalog = get_catalog()
    nation = generate_province("110000", 6000, seed=11)
    kept = [p for p in nation.persons if not catalog.in_use(p.id_number[:6])]
    # Beijing's old districts and counties (崇文, 宣武, the 县 before they became 区) are in many numbers.
    assert kept, "expected ID numbers whose area code is no longer in use"
    assert all(catalog.ever_existed(p.id_number[:6]) for p in kept)
