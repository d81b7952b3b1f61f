"""A moved clock through acceptance, a pause for materials, a resume, overdue marking, and a missed wait."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tongban.cases.calendar import CHINA_TZ, DayUnit, TimeLimit, WorkingCalendar
from tongban.cases.domain import Case, CaseAction, CaseState, CloseReason, TimeLeft
from tongban.core.clock import FixedClock
from tongban.core.errors import Conflict, InvalidInput

CAL = WorkingCalendar()


def china(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=CHINA_TZ)


def new_case(clock: FixedClock, limit: TimeLimit = TimeLimit.working_days(5)) -> Case:
    return Case.accept(
        number="310000-20250926-000001",
        matter="MIG-SPOUSE",
        procedure="standard",
        applicant="person:synthetic-1",
        accepting_node="310000",
        accepting_office="310101-window-1",
        time_limit=limit,
        materials_wait=TimeLimit.calendar_days(30),
        calendar=CAL,
        now=clock.now(),
        actor="user:clerk-1",
    )


def test_pause_resume_and_overdue_over_national_day() -> None:
    clock = FixedClock(china(2025, 9, 26))  # Friday before National Day
    case = new_case(clock)
    assert case.due == date(2025, 10, 10)  # 9-28 (adjusted Sunday), 9-29, 9-30, 10-09, 10-10
    assert case.live_deadline() == datetime(2025, 10, 11, tzinfo=CHINA_TZ)

    clock.set(china(2025, 9, 29))
    case.start(now=clock.now(), actor="user:reviewer-1")
    case.request_materials(
        missing=["marriage_certificate"], now=clock.now(), actor="user:reviewer-1", calendar=CAL
    )
    assert case.state is CaseState.AWAITING_MATERIALS
    assert case.due is None and case.deadline_at is None  # the official clock is stopped
    assert case.materials_due == date(2025, 10, 29)
    assert case.time_left(CAL, clock.now()) == TimeLeft(30, DayUnit.CALENDAR_DAYS, materials=True)
    assert case.live_deadline() == datetime(2025, 10, 30, tzinfo=CHINA_TZ)
    # While paused nothing is overdue, however long the official period would have been.
    clock.set(china(2025, 10, 20))
    assert not case.is_overdue(clock.now())
    with pytest.raises(Conflict):
        case.mark_overdue(now=clock.now(), actor="system:sweep")

    clock.set(china(2025, 10, 21))
    case.receive_materials(now=clock.now(), actor="user:clerk-1", calendar=CAL)
    # Used before the pause: 9-28 and 9-29. After the resume day: 10-22, 10-23, 10-24.
    assert case.pauses[0].start == date(2025, 9, 29) and case.pauses[0].end == date(2025, 10, 21)
    assert case.due == date(2025, 10, 24)
    assert case.working_days_left(CAL, clock.now()) == 3
    assert case.time_left(CAL, clock.now()) == TimeLeft(3, DayUnit.WORKING_DAYS)

    clock.set(china(2025, 10, 24, 23))
    assert not case.is_overdue(clock.now())
    clock.set(china(2025, 10, 25, 0))
    assert case.is_overdue(clock.now())
    assert case.working_days_left(CAL, clock.now()) == 0  # Saturday: no working day after the 24th yet
    case.mark_overdue(now=clock.now(), actor="system:sweep")
    clock.set(china(2025, 10, 28))
    left = case.time_left(CAL, clock.now())
    assert left is not None and left.late and left.days == -2  # 27 and 28 October passed since the due day
    with pytest.raises(Conflict, match="already marked overdue"):
        case.mark_overdue(now=clock.now(), actor="system:sweep")
    # An overdue case still ends normally, once.
    clock.advance(timedelta(days=3))
    case.complete(now=clock.now(), actor="user:reviewer-1")
    assert case.close_reason is CloseReason.COMPLETED
    assert [e.action for e in case.events] == [
        CaseAction.ACCEPT,
        CaseAction.START,
        CaseAction.REQUEST_MATERIALS,
        CaseAction.RECEIVE_MATERIALS,
        CaseAction.MARK_OVERDUE,
        CaseAction.COMPLETE,
    ]
    assert [e.seq for e in case.events] == list(range(1, 7))
    assert case.live_deadline() is None


def test_missed_materials_deadline_closes_the_case_with_a_reason() -> None:
    clock = FixedClock(china(2026, 2, 12))
    case = new_case(clock)
    case.request_materials(
        missing=["marriage_certificate", "sponsor_statement"],
        now=clock.now(),
        actor="user:clerk-1",
        calendar=CAL,
    )
    assert case.materials_due == date(2026, 3, 14)
    clock.set(china(2026, 3, 14, 23))
    with pytest.raises(Conflict, match="has not ended"):
        case.expire_materials_wait(now=clock.now(), actor="system:sweep")
    clock.set(china(2026, 3, 15, 0))
    with pytest.raises(Conflict, match="has ended"):
        case.receive_materials(now=clock.now(), actor="user:clerk-1", calendar=CAL)
    assert case.state is CaseState.AWAITING_MATERIALS  # the refused resume changed nothing
    case.expire_materials_wait(now=clock.now(), actor="system:sweep")
    assert case.state is CaseState.CLOSED
    assert case.close_reason is CloseReason.MATERIALS_NOT_SUPPLIED
    assert case.events[-1].reason == "missing materials not supplied by 2026-03-14"
    assert case.events[-1].data["missing"] == ["marriage_certificate", "sponsor_statement"]
    for action in (
        lambda: case.complete(now=clock.now(), actor="u"),
        lambda: case.withdraw(now=clock.now(), actor="u"),
        lambda: case.receive_materials(now=clock.now(), actor="u", calendar=CAL),
    ):
        with pytest.raises(Conflict):
            action()
    assert len([e for e in case.events if e.to_state == CaseState.CLOSED]) == 1


def test_illegal_transition_changes_nothing() -> None:
    clock = FixedClock(china(2025, 6, 9))
    case = new_case(clock)
    before = (case.state, len(case.events), case.due, case.close_reason)
    with pytest.raises(Conflict, match="accepted: complete is not allowed"):
        case.complete(now=clock.now(), actor="user:reviewer-1")
    with pytest.raises(Conflict):
        case.receive_materials(now=clock.now(), actor="user:clerk-1", calendar=CAL)
    assert (case.state, len(case.events), case.due, case.close_reason) == before


def test_bad_inputs_are_refused_before_any_change() -> None:
    clock = FixedClock(china(2025, 6, 9))
    case = new_case(clock)
    with pytest.raises(InvalidInput):
        case.request_materials(missing=[], now=clock.now(), actor="user:clerk-1", calendar=CAL)
    with pytest.raises(InvalidInput):
        case.refuse(now=clock.now(), actor="user:clerk-1", reason="")
    with pytest.raises(InvalidInput):
        case.start(now=clock.now(), actor="")
    with pytest.raises(Conflict, match="time order"):
        case.start(now=clock.now() - timedelta(minutes=1), actor="user:clerk-1")
    assert case.state is CaseState.ACCEPTED and len(case.events) == 1


def test_year_without_holiday_data_is_flagged_on_the_case() -> None:
    clock = FixedClock(china(2099, 1, 1))
    case = new_case(clock)
    assert case.due == date(2099, 1, 8)
    assert case.years_without_data == (2099,)


def test_a_withdrawal_while_paused_closes_once() -> None:
    clock = FixedClock(china(2025, 6, 9))
    case = new_case(clock)
    case.request_materials(missing=["x"], now=clock.now(), actor="user:clerk-1", calendar=CAL)
    case.withdraw(now=clock.now(), actor="citizen:synthetic-1", reason="moved elsewhere")
    assert case.close_reason is CloseReason.WITHDRAWN
    assert case.live_deadline() is None
