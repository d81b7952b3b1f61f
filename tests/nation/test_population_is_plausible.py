"""The population looks like a province: households, ages, sexes, ethnicities and their names, histories."""

from __future__ import annotations

from collections import Counter

import pytest

from tongban.nation.domain import AS_OF, ProvinceNation, age_on
from tongban.nation.generator import generate_province


@pytest.fixture(scope="module")
def xinjiang() -> ProvinceNation:
    return generate_province("650000", 8000, seed=2026, other_provinces=("110000", "440000", "650000"))


def test_age_pyramid_and_sex_ratio(xinjiang: ProvinceNation) -> None:
    living = [p for p in xinjiang.persons if not p.deceased]
    ages = [age_on(p.birth_date, AS_OF) for p in living]
    children = sum(a < 15 for a in ages) / len(ages)
    elderly = sum(a >= 65 for a in ages) / len(ages)
    median = sorted(ages)[len(ages) // 2]
    assert 0.08 < children < 0.25
    assert 0.07 < elderly < 0.22
    assert 28 <= median <= 45
    assert max(ages) <= 100
    males = sum(p.sex == "male" for p in xinjiang.persons)
    assert 0.95 < males / (len(xinjiang.persons) - males) < 1.12


def test_households_of_every_kind(xinjiang: ProvinceNation) -> None:
    sizes = Counter(
        e.household for p in xinjiang.persons for e in p.events[-1:] if e.event in ("born", "moved_in")
    )
    kinds = Counter(h.kind for h in xinjiang.households)
    assert kinds["family"] > 100
    assert kinds["collective"] > 0
    assert any(size >= 5 for size in sizes.values())  # grandparents living with a family
    assert any(size == 1 for size in sizes.values())
    labels = [h.label for h in xinjiang.households if h.kind == "collective"]
    assert any("学生集体户" in label for label in labels)
    # Every living household has a head who is one of its members.
    by_number = {h.number: h for h in xinjiang.households}
    for p in xinjiang.persons:
        last = p.events[-1]
        if last.relation == "head":
            assert by_number[last.household or ""].head == p.id_number


def test_ethnicities_and_their_naming(xinjiang: ProvinceNation) -> None:
    groups = Counter(p.ethnicity for p in xinjiang.persons)
    assert groups["05"] > groups["17"] > 0  # Uyghur, Kazakh
    assert groups["01"] > 0.3 * len(xinjiang.persons)
    uyghurs = [p.name for p in xinjiang.persons if p.ethnicity == "05"]
    assert all("·" in name for name in uyghurs)
    han = [p.name for p in xinjiang.persons if p.ethnicity == "01"]
    assert not any("·" in name for name in han)


def test_patronymic_children_carry_their_fathers_name() -> None:
    nation = generate_province("650000", 3000, seed=5)
    by_household: dict[str, list[str]] = {}
    for p in nation.persons:
        if p.ethnicity == "05" and p.events[0].event == "born":
            by_household.setdefault(p.events[0].household or "", []).append(p.name)
    heads = {h.number: h.head for h in nation.households}
    names = {p.id_number: p.name for p in nation.persons}
    checked = 0
    for p in nation.persons:
        first = p.events[0]
        if p.ethnicity == "05" and first.relation == "child":
            head = names.get(heads.get(first.household or "") or "")
            if head and "·" in head:
                father_given = head.split("·")[0]
                checked += p.name.endswith("·" + father_given)
    assert checked > 10


def test_some_names_use_characters_outside_the_bmp() -> None:
    nation = generate_province("110000", 8000, seed=2026)
    assert any(any(ord(ch) > 0xFFFF for ch in p.name) for p in nation.persons)


def test_histories_moves_deaths_and_residences_elsewhere(xinjiang: ProvinceNation) -> None:
    movers = [p for p in xinjiang.persons if any(e.event == "moved_in" for e in p.events)]
    dead = [p for p in xinjiang.persons if p.deceased]
    elsewhere = xinjiang.residents_elsewhere()
    n = len(xinjiang.persons)
    assert 0.05 * n < len(movers) < 0.5 * n
    assert 0.005 * n < len(dead) < 0.1 * n
    assert 0.03 * n < len(elsewhere) < 0.2 * n
    for p in xinjiang.persons:
        dates = [e.on for e in p.events]
        assert dates == sorted(dates)
        assert p.events[0].event == "born"
        assert p.events[0].on == p.birth_date
        assert all(e.on <= AS_OF for e in p.events)
    for p in movers:
        kinds = [e.event for e in p.events]
        out = kinds.index("moved_out")
        assert kinds[out + 1] == "moved_in"
        assert all(e.division_code and e.division_code[:2] == "65" for e in p.events)
    for p in elsewhere:
        assert p.residence is not None
        assert p.residence.province_code != "650000"
        assert p.residence.division_code[:2] == p.residence.province_code[:2]
        assert not p.deceased
