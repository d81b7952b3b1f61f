"""Cases and tasks persist on SQLite and PostgreSQL; the deadline sweep marks each overdue row once."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tongban.cases import jobs, service, store
from tongban.cases.calendar import CHINA_TZ
from tongban.cases.domain import CaseAction, CaseRef, CaseState, CloseReason, TaskAction, TaskState
from tongban.cases.policy import Decision
from tongban.cases.rules import Span
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.errors import Conflict, NotFound
from tongban.core.node import NodeContext
from tongban.core.settings import Settings


def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, pg_lock_timeout_s=5, pg_idle_in_transaction_timeout_s=30, db_pool_size=4
    )


def make_node(db: Database, tmp_path: Path, start: datetime) -> NodeContext:
    return NodeContext(
        code="310000", name="test node", db=db, settings=settings(tmp_path), clock=FixedClock(start)
    )


def china(y: int, m: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, m, d, hour, tzinfo=CHINA_TZ)


def test_a_case_round_trips_with_its_history_and_decision(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 9, 26))
    case = service.accept_case(
        node, matter="MIG-SPOUSE", applicant="person:synthetic-7", office="310101-w1", actor="user:clerk-1"
    )
    assert case.number == "310000-20250926-000001"
    # No overall limit for migrations: approval (5, sample policy) + move-out (1) + move-in (1) working days.
    assert str(case.time_limit) == "7 working_days"
    assert case.due == date(2025, 10, 13)
    second = service.accept_case(
        node, matter="CERT", applicant="person:synthetic-8", office="310101-w1", actor="u:1"
    )
    assert second.number.endswith("-000002")

    node.clock.set(china(2025, 9, 28))  # type: ignore[attr-defined]
    service.act_on_case(node, number=case.number, action=CaseAction.START, actor="user:reviewer-1")
    decision = service.decide_eligibility(
        node,
        number=case.number,
        facts=service.parse_facts({"marriage_duration": "1y4m", "sponsor_registration": {"months": 120}}),
        actor="user:reviewer-1",
    )
    assert not decision.eligible
    service.act_on_case(
        node,
        number=case.number,
        action=CaseAction.REQUEST_MATERIALS,
        actor="user:reviewer-1",
        missing=["marriage_certificate"],
    )
    node.clock.set(china(2025, 10, 9))  # type: ignore[attr-defined]
    service.act_on_case(node, number=case.number, action=CaseAction.RECEIVE_MATERIALS, actor="user:clerk-1")

    stored = service.get_case(node, number=case.number)
    assert stored.state is CaseState.IN_PROGRESS
    assert [e.action for e in stored.events] == [
        "accept",
        "start",
        "record_decision",
        "request_materials",
        "receive_materials",
    ]
    assert stored.events[0].actor == "user:clerk-1"
    assert stored.events[3].data["missing"] == ["marriage_certificate"]
    assert stored.pauses[0].start == date(2025, 9, 28)
    assert stored.decision is not None
    again = Decision.from_dict(stored.decision)
    assert again.explain("zh_CN") == decision.explain("zh_CN")
    assert "已结婚1年4个月" in again.explain("zh_CN")
    assert {c.number for c in service.list_cases(node)} == {case.number, second.number}
    assert [c.number for c in service.list_cases(node, office="elsewhere")] == []


def test_an_illegal_action_is_refused_and_stores_nothing(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 6, 9))
    case = service.accept_case(node, matter="CERT", applicant="person:s-1", office="o-1", actor="u:1")
    with pytest.raises(Conflict):
        service.act_on_case(node, number=case.number, action=CaseAction.COMPLETE, actor="u:1")
    stored = service.get_case(node, number=case.number)
    assert stored.state is CaseState.ACCEPTED and len(stored.events) == 1
    with pytest.raises(NotFound):
        service.get_case(node, number="310000-20250609-999999")


def test_a_stale_save_is_refused(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 6, 9))
    case = service.accept_case(node, matter="CERT", applicant="person:s-1", office="o-1", actor="u:1")
    with database.session() as s:
        stale = store.load_case(s, case.number)
    service.act_on_case(node, number=case.number, action=CaseAction.START, actor="u:2")
    stale.obj.withdraw(now=node.clock.now(), actor="u:3")
    with pytest.raises(Conflict, match="changed meanwhile"), database.transaction() as s:
        store.save_case(s, stale)
    assert service.get_case(node, number=case.number).state is CaseState.IN_PROGRESS


def test_sweep_marks_overdue_once_and_closes_expired_waits(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 6, 9))
    late = service.accept_case(node, matter="BIRTH", applicant="person:s-1", office="o-1", actor="u:1")
    waiting = service.accept_case(node, matter="BIRTH", applicant="person:s-2", office="o-1", actor="u:1")
    service.act_on_case(
        node, number=waiting.number, action=CaseAction.REQUEST_MATERIALS, actor="u:1", missing=["x"]
    )
    task = service.receive_task(
        node,
        ref=str(uuid.uuid4()),
        case=CaseRef("110000", "110000-20250609-000001"),
        matter="MIG-JOB",
        step="move_out",
        actor="node:110000",
    )
    assert task.due == date(2025, 6, 10)
    # Receiving the same task again (a re-sent message) changes nothing.
    assert (
        service.receive_task(
            node, ref=task.ref, case=task.case, matter="MIG-JOB", step="move_out", actor="node:110000"
        ).events
        == task.events
    )
    assert late.due == date(2025, 6, 11)  # birth decision: 2 working days in the sample policy

    node.clock.set(china(2025, 6, 11, 23))  # type: ignore[attr-defined]
    first = jobs.sweep_deadlines(node)
    assert first.cases_overdue == [] and first.tasks_overdue == [task.ref]
    node.clock.set(china(2025, 6, 12, 0))  # type: ignore[attr-defined]
    second = jobs.sweep_deadlines(node)
    assert second.cases_overdue == [late.number]
    assert second.tasks_overdue == []
    assert jobs.sweep_deadlines(node).changed == 0

    node.clock.set(china(2025, 7, 10, 0))  # the 30-day wait (sample policy) ended with 9 July
    third = jobs.sweep_deadlines(node)
    assert third.cases_closed == [waiting.number]
    closed = service.get_case(node, number=waiting.number)
    assert closed.close_reason is CloseReason.MATERIALS_NOT_SUPPLIED
    assert closed.events[-1].actor == jobs.SWEEP_ACTOR
    with database.session() as s:
        assert store.count_overdue_marks(s) == {late.number: 1}
    done = service.act_on_task(node, ref=task.ref, action=TaskAction.COMPLETE, actor="user:clerk-9")
    assert done.state is TaskState.CLOSED
    assert [e.action for e in service.get_task(node, ref=task.ref).events] == [
        "receive",
        "mark_overdue",
        "complete",
    ]


def test_two_concurrent_sweepers_mark_each_case_once(pg_url: str, tmp_path: Path) -> None:
    workers = [Database(pg_url, settings(tmp_path)) for _ in range(2)]
    clock = FixedClock(china(2025, 6, 9))
    nodes = [
        NodeContext(code="310000", name="n", db=db, settings=settings(tmp_path), clock=clock)
        for db in workers
    ]
    numbers = [
        service.accept_case(
            nodes[0], matter="BIRTH", applicant=f"person:s-{i}", office="o-1", actor="u:1"
        ).number
        for i in range(30)
    ]
    clock.set(china(2025, 6, 20))
    barrier = threading.Barrier(2)
    results: list[jobs.SweepResult] = []
    errors: list[BaseException] = []

    def run(node: NodeContext) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(jobs.sweep_deadlines(node))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    marked = [n for r in results for n in r.cases_overdue]
    assert sorted(marked) == sorted(numbers)  # every case marked, none twice
    with workers[0].session() as s:
        assert store.count_overdue_marks(s) == dict.fromkeys(numbers, 1)
    for db in workers:
        db.dispose()


def test_time_order_is_kept_across_a_late_clock(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 6, 9))
    case = service.accept_case(node, matter="CERT", applicant="person:s-1", office="o-1", actor="u:1")
    node.clock.set(china(2025, 6, 9) - timedelta(hours=1))  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        service.act_on_case(node, number=case.number, action=CaseAction.START, actor="u:1")
    assert service.get_case(node, number=case.number).state is CaseState.ACCEPTED


def test_the_policy_in_force_at_acceptance_decides(database: Database, tmp_path: Path) -> None:
    node = NodeContext(
        code="110000",
        name="n",
        db=database,
        settings=settings(tmp_path),
        clock=FixedClock(china(2025, 6, 30)),
    )
    case = service.accept_case(node, matter="MIG-SPOUSE", applicant="person:s-1", office="o-1", actor="u:1")
    node.clock.set(china(2025, 7, 2))  # type: ignore[attr-defined]  # a new version took effect on 1 July
    decision = service.decide_eligibility(
        node, number=case.number, facts={"marriage_duration": Span.of(2, 6)}, actor="u:2"
    )
    assert decision.policy_version == "2024.1"
    assert not decision.eligible
    assert decision.explain("en").startswith(
        "spouse migration requires 3 years of marriage; married 2 years 6 months"
    )


def test_the_sweep_loop_runs_until_stopped(database: Database, tmp_path: Path) -> None:
    node = make_node(database, tmp_path, china(2025, 6, 9))
    case = service.accept_case(node, matter="BIRTH", applicant="person:s-1", office="o-1", actor="u:1")
    node.clock.set(china(2025, 6, 20))  # type: ignore[attr-defined]
    stop = threading.Event()
    seen: list[jobs.SweepResult] = []

    def on_result(_node: NodeContext, result: jobs.SweepResult) -> None:
        seen.append(result)
        if len(seen) >= 3:
            stop.set()

    passes = jobs.run_sweeps([node], interval_s=0.01, stop=stop, on_result=on_result)
    assert passes == 3
    assert [r.cases_overdue for r in seen] == [[case.number], [], []]


def test_task_reception_refuses_unknown_steps_and_reused_refs(database: Database, tmp_path: Path) -> None:
    from tongban.core.errors import InvalidInput

    node = make_node(database, tmp_path, china(2025, 6, 9))
    case = CaseRef("110000", "110000-20250609-000001")
    with pytest.raises(InvalidInput):
        service.receive_task(
            node, ref="t-1", case=case, matter="MIG-JOB", step="teleport", actor="node:110000"
        )
    service.receive_task(node, ref="t-1", case=case, matter="MIG-JOB", step="move_out", actor="node:110000")
    with pytest.raises(Conflict, match="another case or step"):
        service.receive_task(
            node, ref="t-1", case=case, matter="MIG-JOB", step="move_in", actor="node:110000"
        )
    with pytest.raises(Conflict):
        service.act_on_task(node, ref="t-1", action=TaskAction.MARK_OVERDUE, actor="user:clerk-9")
    assert [t.ref for t in service.list_tasks(node)] == ["t-1"]
    with pytest.raises(NotFound):
        service.get_task(node, ref="t-2")
