"""The state tables: exactly one terminal state, every open case or task has a live deadline, tasks close once."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.cases.calendar import CHINA_TZ, TimeLimit, WorkingCalendar
from tongban.cases.domain import (
    CASE_TRANSITIONS,
    TASK_TRANSITIONS,
    Case,
    CaseRef,
    CaseState,
    Task,
    TaskAction,
    TaskOutcome,
    TaskState,
    make_case_number,
    terminal_states,
)
from tongban.core.errors import Conflict, InvalidInput, TongbanError

CAL = WorkingCalendar()


def test_exactly_one_terminal_state() -> None:
    assert terminal_states(CASE_TRANSITIONS, list(CaseState)) == {CaseState.CLOSED}
    assert terminal_states(TASK_TRANSITIONS, list(TaskState)) == {TaskState.CLOSED}
    assert not any(src is CaseState.CLOSED for src, _ in CASE_TRANSITIONS)


def test_case_numbers_and_refs() -> None:
    number = make_case_number("310000", date(2025, 9, 26), 42)
    assert number == "310000-20250926-000042"
    ref = CaseRef("310000", number)
    assert CaseRef.parse(str(ref)) == ref
    with pytest.raises(InvalidInput):
        CaseRef.parse("nonsense")
    with pytest.raises(ValueError):
        make_case_number("31", date(2025, 9, 26), 1)


def test_task_has_its_own_deadline_and_closes_once() -> None:
    received = datetime(2025, 9, 30, 15, tzinfo=CHINA_TZ)
    task = Task.receive(
        ref="5b0a7f5e-1c1e-4b8e-9d53-1f0f2c1e0001",
        case=CaseRef("310000", "310000-20250926-000001"),
        owner_node="110000",
        matter="MIG-SPOUSE",
        step="move_out",
        time_limit=TimeLimit.working_days(1),
        calendar=CAL,
        now=received,
        actor="node:310000",
    )
    assert task.due == date(2025, 10, 9)  # the origin's one working day falls after National Day
    later = datetime(2025, 10, 10, 0, tzinfo=CHINA_TZ)
    assert task.is_overdue(later)
    task.apply(TaskAction.MARK_OVERDUE, now=later, actor="system:sweep")
    with pytest.raises(Conflict):
        task.apply(TaskAction.MARK_OVERDUE, now=later, actor="system:sweep")
    task.apply(TaskAction.START, now=later, actor="user:clerk-9")
    with pytest.raises(InvalidInput):
        task.apply(TaskAction.REJECT, now=later, actor="user:clerk-9")
    task.apply(TaskAction.COMPLETE, now=later + timedelta(hours=1), actor="user:clerk-9")
    assert task.outcome is TaskOutcome.DONE
    with pytest.raises(Conflict):
        task.apply(TaskAction.CANCEL, now=later + timedelta(hours=2), actor="node:310000")
    with pytest.raises(Conflict):
        task.apply(TaskAction.RECEIVE, now=later + timedelta(hours=2), actor="node:310000")
    assert task.live_deadline() is None
    assert [e.seq for e in task.events] == [1, 2, 3, 4]


def act(case: Case, name: str, now: datetime) -> None:
    if name == "start":
        case.start(now=now, actor="u")
    elif name == "request":
        case.request_materials(missing=["m"], now=now, actor="u", calendar=CAL)
    elif name == "receive":
        case.receive_materials(now=now, actor="u", calendar=CAL)
    elif name == "complete":
        case.complete(now=now, actor="u")
    elif name == "refuse":
        case.refuse(now=now, actor="u", reason="r")
    elif name == "withdraw":
        case.withdraw(now=now, actor="u")
    elif name == "expire":
        case.expire_materials_wait(now=now, actor="s")
    elif name == "overdue":
        case.mark_overdue(now=now, actor="s")
    else:
        case.record_decision(decision={"eligible": True}, now=now, actor="u")


ACTIONS = ["start", "request", "receive", "complete", "refuse", "withdraw", "expire", "overdue", "decide"]


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(ACTIONS), st.integers(min_value=0, max_value=20 * 24)),
        min_size=1,
        max_size=25,
    )
)
def test_any_sequence_keeps_the_invariants(steps: list[tuple[str, int]]) -> None:
    now = datetime(2025, 9, 20, 9, tzinfo=CHINA_TZ)
    case = Case.accept(
        number="310000-20250920-000001",
        matter="MIG-JOB",
        procedure="standard",
        applicant="person:synthetic-2",
        accepting_node="310000",
        accepting_office="o",
        time_limit=TimeLimit.working_days(5),
        materials_wait=TimeLimit.calendar_days(10),
        calendar=CAL,
        now=now,
        actor="user:1",
    )
    for name, hours in steps:
        now += timedelta(hours=hours)
        state, count = case.state, len(case.events)
        try:
            act(case, name, now)
        except TongbanError:
            assert (case.state, len(case.events)) == (state, count)  # refused: nothing changed
        else:
            assert len(case.events) == count + 1
            assert CASE_TRANSITIONS[(state, case.events[-1].action)] is case.state  # type: ignore[index]
        # Invariant 2: open means a live deadline; closed means a reason and no deadline.
        if case.is_closed:
            assert case.live_deadline() is None and case.close_reason is not None
        else:
            assert case.live_deadline() is not None and case.close_reason is None
    assert sum(1 for e in case.events if e.to_state == CaseState.CLOSED) == (1 if case.is_closed else 0)
