"""The supervisor's figures on known cases, on SQLite and PostgreSQL: exact counts per period and reach."""

from __future__ import annotations

from datetime import date

import pytest

from tests.supervision.helpers import NOW, known_cases
from tongban.cases.calendar import WorkingCalendar
from tongban.cases.catalog import MatterCatalog
from tongban.core.db import Database
from tongban.supervision.queries import Figures, Reach, figures

CALENDAR = WorkingCalendar()
NATION = Reach(division="", tasks=True)


def counted(database: Database, reach: Reach, period: int) -> Figures:
    with database.transaction() as s:
        known_cases(s)
    with database.session() as s:
        return figures(s, reach=reach, period_days=period, now=NOW, calendar=CALENDAR)


def test_last_seven_days_for_the_whole_node(database: Database) -> None:
    f = counted(database, NATION, 7)
    assert f.first_day == date(2026, 11, 21) and f.today == date(2026, 11, 27)
    per_day = dict(f.accepted_per_day)
    assert len(per_day) == 7
    # A2 was accepted at 07:00 China time on the 27th (the 26th in UTC): it counts on the 27th.
    assert {d.day: n for d, n in per_day.items() if n} == {24: 1, 25: 1, 26: 1, 27: 2}
    assert f.accepted == 5
    assert f.open_by_state == {"accepted": 2, "in_progress": 4, "awaiting_materials": 1}
    assert f.overdue_cases == 3
    assert f.overdue_tasks == 1
    assert f.due_within == {1: 1, 3: 2}
    assert (f.on_time, f.late) == (1, 0)
    assert f.closed_by_reason == {"completed": 1, "refused": 0, "withdrawn": 1, "materials_not_supplied": 0}
    assert f.on_time_rate == 1.0


def test_thirty_days_rate_and_breakdowns(database: Database) -> None:
    f = counted(database, NATION, 30)
    assert f.accepted == 9
    assert (f.on_time, f.late) == (2, 1)
    assert f.on_time_rate == pytest.approx(2 / 3)
    matters = {g.key: (g.accepted, g.open, g.overdue, g.on_time, g.late) for g in f.by_matter}
    assert matters == {"MIG-SPOUSE": (8, 5, 2, 2, 1), "CERT": (1, 2, 1, 0, 0)}
    offices = {g.key: (g.accepted, g.open, g.overdue) for g in f.by_office}
    assert offices == {"110105-01": (6, 4, 1), "110105-02": (1, 2, 1), "110108-01": (2, 1, 1)}
    assert f.by_office[0].overdue == 1  # ties sorted by open work: 110105-01 first
    assert f.by_office[0].key == "110105-01"
    modes = {g.key: (g.accepted, g.open, g.overdue) for g in f.by_mode(MatterCatalog.load())}
    assert modes == {
        "joint_handling": (8, 5, 2),
        "fully_online": (1, 1, 0),
        "accept_here_decide_there": (0, 1, 1),
    }
    states = {g.key: g.by_state for g in f.by_matter}
    assert states["MIG-SPOUSE"] == {"in_progress": 2, "accepted": 2, "awaiting_materials": 1}


def test_ninety_days_weeks(database: Database) -> None:
    f = counted(database, NATION, 90)
    assert f.accepted == 10  # A6 of 1 October joins; B2 of 1 August stays out
    weeks = f.accepted_per_week()
    assert all(d.weekday() == 0 for d, _ in weeks)
    assert sum(n for _, n in weeks) == 10
    assert dict(weeks)[date(2026, 11, 23)] == 5


def test_overdue_list_longest_first_with_tasks(database: Database) -> None:
    f = counted(database, NATION, 7)
    assert [(i.kind, i.number) for i in f.overdue_items] == [
        ("case", "110000-20260801-000001"),
        ("case", "110000-20261126-000001"),
        ("task", "310000-20261101-000001"),
        ("case", "110000-20261127-000002"),
    ]
    late = {i.number: i.late_days for i in f.overdue_items}
    assert late["110000-20261127-000002"] == 1  # due Thursday, today Friday
    assert late["110000-20261126-000001"] == 5  # due the Friday before


def test_a_county_sees_its_county_only(database: Database) -> None:
    f = counted(database, Reach(division="110105"), 7)
    assert f.accepted == 4
    assert f.open == 6
    assert f.overdue_cases == 2
    assert f.overdue_tasks is None  # tasks carry no division: not within a county's reach
    assert {i.number for i in f.overdue_items} == {"110000-20261127-000002", "110000-20260801-000001"}
    assert {g.key for g in f.by_office} == {"110105-01", "110105-02"}


def test_an_office_sees_its_office_only(database: Database) -> None:
    f = counted(database, Reach(office="110105-02"), 30)
    assert (f.accepted, f.open, f.overdue_cases) == (1, 2, 1)
    assert f.due_within == {1: 0, 3: 1}
    assert [g.key for g in f.by_matter] == ["CERT"]


def test_an_empty_node_counts_zero(database: Database) -> None:
    with database.session() as s:
        f = figures(s, reach=NATION, period_days=30, now=NOW, calendar=CALENDAR)
    assert f.accepted == 0 and f.open == 0 and f.overdue_cases == 0 and f.overdue_tasks == 0
    assert f.on_time_rate is None and f.by_matter == [] and f.overdue_items == []
    assert len(f.accepted_per_day) == 30


def test_only_the_offered_periods_and_a_named_reach(database: Database) -> None:
    with database.session() as s, pytest.raises(ValueError):
        figures(s, reach=NATION, period_days=14, now=NOW, calendar=CALENDAR)
    with pytest.raises(ValueError):
        Reach()
