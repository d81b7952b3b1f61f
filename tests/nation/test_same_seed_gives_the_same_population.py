"""Generation is deterministic for a seed and differs between seeds."""

from __future__ import annotations

from tongban.nation.generator import generate_province


def test_same_seed_same_people_and_households() -> None:
    a = generate_province("440000", 3000, seed=2026, other_provinces=("110000", "440000"))
    b = generate_province("440000", 3000, seed=2026, other_provinces=("110000", "440000"))
    assert a.persons == b.persons
    assert a.households == b.households


def test_another_seed_gives_other_people() -> None:
    a = generate_province("440000", 500, seed=1)
    b = generate_province("440000", 500, seed=2)
    assert [p.id_number for p in a.persons] != [p.id_number for p in b.persons]


def test_exactly_the_number_of_people_asked_for() -> None:
    for people in (1, 37, 1000):
        assert len(generate_province("510000", people, seed=3).persons) == people
