"""The only place with queries for cases, tasks and their histories.

Writes are compare-and-set on ``version``: a case or task is loaded with its version, changed in the domain,
and saved with ``UPDATE ... WHERE id = :id AND version = :loaded``; a row changed meanwhile by another writer
(a clerk, another sweeper) makes the save fail with ``Conflict`` and the transaction roll back, so no change is
lost and none is applied twice. Histories are append-only: events are inserted, never updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, Update, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.cases.calendar import DayUnit, Pause, TimeLimit
from tongban.cases.domain import (
    Case,
    CaseRef,
    CaseState,
    CloseReason,
    Event,
    Task,
    TaskOutcome,
    TaskState,
)
from tongban.cases.tables import (
    CaseEventRow,
    CaseNumberCounter,
    CaseRow,
    CaseWindowRow,
    TaskEventRow,
    TaskRow,
)
from tongban.core import batching
from tongban.core.errors import Conflict, NotFound
from tongban.core.i18n import N_

T = TypeVar("T", Case, Task)

OPEN_RUNNING = (CaseState.ACCEPTED.value, CaseState.IN_PROGRESS.value)
OPEN_TASK = (TaskState.OPEN.value, TaskState.IN_PROGRESS.value)


@dataclass
class Loaded(Generic[T]):
    """A case or task as read, with what a compare-and-set save needs."""

    obj: T
    id: int
    version: int
    stored_events: int


def _years(text: str) -> tuple[int, ...]:
    return tuple(int(y) for y in text.split(",") if y)


def _years_text(years: Sequence[int]) -> str:
    return ",".join(str(y) for y in years)


def _event_values(e: Event) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": str(e.action),
        "from_state": None if e.from_state is None else str(e.from_state),
        "to_state": str(e.to_state),
        "reason": e.reason,
        "data": dict(e.data),
    }


def _event(row: CaseEventRow | TaskEventRow) -> Event:
    return Event(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        reason=row.reason,
        data=dict(row.data or {}),
    )


# --- Case numbers --------------------------------------------------------------------------------


def next_case_seq(s: Session, *, node: str, day: date) -> int:
    """The next sequence number of ``node`` on ``day``: one atomic upsert, safe with concurrent writers (in a
    batch pass, one upsert reserves the pass's numbers: ``core.batching``)."""

    def advance(session: Session, n: int) -> int:
        dialect = session.get_bind().dialect.name
        ins = (
            postgresql.insert(CaseNumberCounter)
            if dialect == "postgresql"
            else sqlite.insert(CaseNumberCounter)
        )
        stmt = (
            ins.values(node=node, day=day, last=n)
            .on_conflict_do_update(
                index_elements=[CaseNumberCounter.node, CaseNumberCounter.day],
                set_={"last": CaseNumberCounter.last + n},
            )
            .returning(CaseNumberCounter.last)
        )
        return int(session.execute(stmt).scalar_one())

    def give_back(session: Session, n: int) -> None:
        session.execute(
            update(CaseNumberCounter)
            .where(CaseNumberCounter.node == node, CaseNumberCounter.day == day)
            .values(last=CaseNumberCounter.last - n)
        )

    return batching.sequence_value(s, ("cases.number", node, day), advance, give_back)


# The compare-and-set updates are built once, with every value a bound parameter: building an UPDATE with
# its values inline costs more than running it (every save is on the hot path of the use cases).
_updates: dict[tuple[str, tuple[str, ...]], Update] = {}


def _cas_update(table: Table, columns: tuple[str, ...]) -> Update:
    found = _updates.get((table.name, columns))
    if found is None:
        found = (
            table.update()
            .where(table.c.id == bindparam("k_id"), table.c.version == bindparam("k_version"))
            .values(
                {
                    "version": bindparam("k_next"),
                    **{c: bindparam(f"v_{c}", type_=table.c[c].type) for c in columns},
                }
            )
        )
        _updates[(table.name, columns)] = found
    return found


def _cas_params(row_id: int, version: int, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "k_id": row_id,
        "k_version": version,
        "k_next": version + 1,
        **{f"v_{k}": v for k, v in values.items()},
    }


# --- Cases ---------------------------------------------------------------------------------------


def _case_values(c: Case) -> dict[str, Any]:
    return {
        "matter": c.matter,
        "procedure": c.procedure,
        "applicant": c.applicant,
        "accepting_node": c.accepting_node,
        "accepting_office": c.accepting_office,
        "accepted_at": c.accepted_at,
        "time_limit_value": c.time_limit.value,
        "time_limit_unit": c.time_limit.unit.value,
        "materials_wait_value": c.materials_wait.value,
        "materials_wait_unit": c.materials_wait.unit.value,
        "state": c.state.value,
        "close_reason": None if c.close_reason is None else c.close_reason.value,
        "pauses": [[p.start.isoformat(), p.end.isoformat()] for p in c.pauses],
        "paused_since": c.paused_since,
        "missing_materials": list(c.missing_materials),
        "due": c.due,
        "deadline_at": c.deadline_at,
        "materials_due": c.materials_due,
        "materials_deadline_at": c.materials_deadline_at,
        "years_without_data": _years_text(c.years_without_data),
        "overdue_at": c.overdue_at,
        "closed_at": c.closed_at,
        "decision": None if c.decision is None else dict(c.decision),
    }


def _case(row: CaseRow, events: list[Event]) -> Case:
    return Case(
        events=events,
        number=row.number,
        matter=row.matter,
        procedure=row.procedure,
        applicant=row.applicant,
        accepting_node=row.accepting_node,
        accepting_office=row.accepting_office,
        accepted_at=row.accepted_at,
        time_limit=TimeLimit(row.time_limit_value, DayUnit(row.time_limit_unit)),
        materials_wait=TimeLimit(row.materials_wait_value, DayUnit(row.materials_wait_unit)),
        state=CaseState(row.state),
        close_reason=None if row.close_reason is None else CloseReason(row.close_reason),
        pauses=[Pause(date.fromisoformat(a), date.fromisoformat(b)) for a, b in row.pauses],
        paused_since=row.paused_since,
        missing_materials=tuple(row.missing_materials),
        due=row.due,
        deadline_at=row.deadline_at,
        materials_due=row.materials_due,
        materials_deadline_at=row.materials_deadline_at,
        years_without_data=_years(row.years_without_data),
        overdue_at=row.overdue_at,
        closed_at=row.closed_at,
        decision=row.decision,
    )


def add_case(s: Session, case: Case) -> Loaded[Case]:
    return add_cases(s, [case])[0]


def add_cases(s: Session, cases: Sequence[Case]) -> list[Loaded[Case]]:
    """New cases, in one insert (and one of their events; in a batch pass, the events at the pass's end)."""
    rows = [CaseRow(number=case.number, version=1, **_case_values(case)) for case in cases]
    return _add(s, cases, rows, CaseEventRow, "case_id", _write_case_saves)


def _add(
    s: Session, objs: Sequence[Any], rows: list[Any], event_table: Any, fk: str, writer: Any
) -> list[Any]:
    """New cases' or tasks' rows in one insert (their ids), and their events in one (in a batch pass, queued
    for ``writer`` with the pass's saves of the same table)."""
    s.add_all(rows)
    s.flush()
    events = [
        {fk: row.id, **_event_values(e)} for row, obj in zip(rows, objs, strict=True) for e in obj.events
    ]
    kind = type(rows[0]).__tablename__ if rows else ""
    if events and not batching.defer(s, kind, _Save(rows[0].id, None, None, events), writer):
        s.execute(insert(event_table), events)
    return [Loaded(obj, row.id, 1, len(obj.events)) for row, obj in zip(rows, objs, strict=True)]


# Read at every step of every case: built once with a bound value.
_CASE_EVENTS = select(CaseEventRow).where(CaseEventRow.case_id == bindparam("v")).order_by(CaseEventRow.seq)
_CASE_BY_NUMBER = select(CaseRow).where(CaseRow.number == bindparam("v"))
_CASE_ID_BY_NUMBER = select(CaseRow.id).where(CaseRow.number == bindparam("v"))
_TASK_EVENTS = select(TaskEventRow).where(TaskEventRow.task_id == bindparam("v")).order_by(TaskEventRow.seq)
_TASK_BY_REF = select(TaskRow).where(TaskRow.ref == bindparam("v"))


def _load_case_row(s: Session, row: CaseRow) -> Loaded[Case]:
    events = [_event(e) for e in s.scalars(_CASE_EVENTS, {"v": row.id})]
    return Loaded(_case(row, events), row.id, row.version, len(events))


def load_cases(s: Session, numbers: Sequence[str]) -> dict[str, Loaded[Case]]:
    """The cases of ``numbers`` that exist, by number, as ``load_case`` reads each: two statements for all."""
    if not numbers:
        return {}
    rows = list(s.scalars(select(CaseRow).where(CaseRow.number.in_(numbers))))
    events: dict[int, list[Any]] = {row.id: [] for row in rows}
    q = (
        select(CaseEventRow)
        .where(CaseEventRow.case_id.in_(events))
        .order_by(CaseEventRow.case_id, CaseEventRow.seq)
    )
    for e in s.scalars(q):
        events[e.case_id].append(_event(e))
    return {
        row.number: Loaded(_case(row, events[row.id]), row.id, row.version, len(events[row.id]))
        for row in rows
    }


def case_ids_of(s: Session, numbers: Sequence[str]) -> dict[str, int]:
    """The row ids of the cases of ``numbers`` that exist, by number, in one statement."""
    if not numbers:
        return {}
    return {n: i for n, i in s.execute(select(CaseRow.number, CaseRow.id).where(CaseRow.number.in_(numbers)))}


def window_rows(s: Session, case_ids: Sequence[int]) -> list[CaseWindowRow]:
    """The window records of these cases, in one statement (the session's identity map then answers
    ``s.get(CaseWindowRow, id)`` for each while the caller keeps the list)."""
    if not case_ids:
        return []
    return list(s.scalars(select(CaseWindowRow).where(CaseWindowRow.case_id.in_(case_ids))))


def load_case(s: Session, number: str) -> Loaded[Case]:
    row = s.scalars(_CASE_BY_NUMBER, {"v": number}).one_or_none()
    if row is None:
        raise NotFound(N_("No case {number}"), number=number)
    return _load_case_row(s, row)


def just_added(case: Case, case_id: int) -> Loaded[Case]:
    """A case ``accept_case`` added in this transaction, as a load would read it back (version 1, every event
    stored): what its ``then`` saves further changes with, without reading the rows just written."""
    return Loaded(case, case_id, 1, len(case.events))


def case_id_of(s: Session, number: str) -> int:
    """The row id of case ``number`` (``NotFound`` if there is none)."""
    found = s.scalar(_CASE_ID_BY_NUMBER, {"v": number})
    if found is None:
        raise NotFound(N_("No case {number}"), number=number)
    return int(found)


def load_case_by_id(s: Session, case_id: int) -> Loaded[Case]:
    row = s.get(CaseRow, case_id)
    if row is None:
        raise NotFound(N_("No case {number}"), number=str(case_id))
    return _load_case_row(s, row)


def save_case(s: Session, loaded: Loaded[Case]) -> None:
    """Write the case back if nobody changed it since it was loaded (else ``Conflict``); append new events.
    In a batch pass (``core.batching``) both are written with the pass's other cases when the pass ends."""
    number = loaded.obj.number
    _save(
        s,
        loaded,
        _case_values(loaded.obj),
        CaseRow,
        CaseEventRow,
        "case_id",
        _write_case_saves,
        lambda: Conflict(N_("Case {number} was changed meanwhile; try again"), number=number),
    )


def _save(
    s: Session,
    loaded: Loaded[Any],
    values: dict[str, Any],
    table: Any,
    event_table: Any,
    fk: str,
    writer: Any,
    conflict: Any,
) -> None:
    """A case's or task's compare-and-set write and its new events, at once or (in a batch pass) queued for
    ``writer`` at the pass's end; ``conflict()`` is the error when the row was changed meanwhile."""
    events = [{fk: loaded.id, **_event_values(e)} for e in loaded.obj.events[loaded.stored_events :]]
    if not batching.defer(s, table.__tablename__, _Save(loaded.id, loaded.version, values, events), writer):
        result = s.execute(
            _cas_update(table.__table__, tuple(values)), _cas_params(loaded.id, loaded.version, values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise conflict()
        if events:
            s.execute(insert(event_table), events)
    loaded.version += 1
    loaded.stored_events = len(loaded.obj.events)


@dataclass(frozen=True)
class _Save:
    """A case's or task's write held back to the end of a batch pass: the compare-and-set update (none for
    one added in the pass, with ``version`` None) and the new events."""

    row_id: int
    version: int | None
    values: dict[str, Any] | None
    events: list[dict[str, Any]]


def _write_saves(s: Session, saves: list[_Save], table: Any, event_table: Any, conflict: str) -> None:
    """A pass's writes of one kind: one compare-and-set statement for all its saved rows (a row saved twice is
    checked against the version it was loaded with and written with its last values), one insert of all
    their new events. A row changed meanwhile by another writer fails the pass with ``Conflict``."""
    first: dict[int, int] = {}
    last: dict[int, tuple[int, dict[str, Any]]] = {}
    for save in saves:
        if save.version is None or save.values is None:
            continue
        first.setdefault(save.row_id, save.version)
        last[save.row_id] = (save.version + 1, save.values)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, (next_version, values) in last.items():
        params = _cas_params(row_id, first[row_id], values)
        params["k_next"] = next_version
        by_columns.setdefault(tuple(values), []).append(params)
    for columns, params_list in by_columns.items():
        result = s.execute(_cas_update(table.__table__, columns), params_list)
        if result.rowcount != len(params_list):  # type: ignore[attr-defined]
            raise Conflict(conflict)
    # Rows of one shape (the same columns None) together: the ORM insert takes a run of them as one statement.
    events = sorted((e for save in saves for e in save.events), key=lambda e: [v is None for v in e.values()])
    if events:
        s.execute(insert(event_table), events)


def _write_case_saves(s: Session, saves: list[_Save]) -> None:
    _write_saves(s, saves, CaseRow, CaseEventRow, N_("A case of the batch was changed meanwhile; try again"))


def _write_task_saves(s: Session, saves: list[_Save]) -> None:
    _write_saves(s, saves, TaskRow, TaskEventRow, N_("A task of the batch was changed meanwhile; try again"))


def list_cases(
    s: Session, *, office: str | None = None, include_closed: bool = False, limit: int = 100
) -> list[Case]:
    q = select(CaseRow)
    if office is not None:
        q = q.where(CaseRow.accepting_office == office)
    if not include_closed:
        q = q.where(CaseRow.state != CaseState.CLOSED.value)
    q = q.order_by(CaseRow.deadline_at.is_(None), CaseRow.deadline_at, CaseRow.id).limit(limit)
    return [_case(row, []) for row in s.scalars(q)]


def overdue_case_ids(s: Session, *, now: datetime, limit: int) -> list[int]:
    """Open, running cases whose official deadline passed and that are not yet marked."""
    q = (
        select(CaseRow.id)
        .where(CaseRow.overdue_at.is_(None), CaseRow.deadline_at <= now, CaseRow.state.in_(OPEN_RUNNING))
        .order_by(CaseRow.deadline_at, CaseRow.id)
        .limit(limit)
    )
    return list(s.scalars(q))


def expired_wait_case_ids(s: Session, *, now: datetime, limit: int) -> list[int]:
    """Cases waiting for materials whose wait has ended."""
    q = (
        select(CaseRow.id)
        .where(
            CaseRow.state == CaseState.AWAITING_MATERIALS.value,
            CaseRow.materials_deadline_at <= now,
        )
        .order_by(CaseRow.materials_deadline_at, CaseRow.id)
        .limit(limit)
    )
    return list(s.scalars(q))


def count_overdue_marks(s: Session) -> dict[str, int]:
    """Overdue events per case number (for checks: each overdue case is marked exactly once)."""
    q = (
        select(CaseRow.number, func.count(CaseEventRow.id))
        .join(CaseEventRow, and_(CaseEventRow.case_id == CaseRow.id, CaseEventRow.action == "mark_overdue"))
        .group_by(CaseRow.number)
    )
    return {number: int(n) for number, n in s.execute(q)}


# --- Tasks ---------------------------------------------------------------------------------------


def _task_values(t: Task) -> dict[str, Any]:
    return {
        "case_node": t.case.node,
        "case_number": t.case.number,
        "owner_node": t.owner_node,
        "matter": t.matter,
        "step": t.step,
        "received_at": t.received_at,
        "time_limit_value": t.time_limit.value,
        "time_limit_unit": t.time_limit.unit.value,
        "state": t.state.value,
        "outcome": None if t.outcome is None else t.outcome.value,
        "due": t.due,
        "deadline_at": t.deadline_at,
        "years_without_data": _years_text(t.years_without_data),
        "overdue_at": t.overdue_at,
        "closed_at": t.closed_at,
    }


def _task(row: TaskRow, events: list[Event]) -> Task:
    return Task(
        events=events,
        ref=row.ref,
        case=CaseRef(row.case_node, row.case_number),
        owner_node=row.owner_node,
        matter=row.matter,
        step=row.step,
        received_at=row.received_at,
        time_limit=TimeLimit(row.time_limit_value, DayUnit(row.time_limit_unit)),
        state=TaskState(row.state),
        outcome=None if row.outcome is None else TaskOutcome(row.outcome),
        due=row.due,
        deadline_at=row.deadline_at,
        years_without_data=_years(row.years_without_data),
        overdue_at=row.overdue_at,
        closed_at=row.closed_at,
    )


def add_task(s: Session, task: Task) -> Loaded[Task]:
    return add_tasks(s, [task])[0]


def add_tasks(s: Session, tasks: Sequence[Task]) -> list[Loaded[Task]]:
    """New tasks, in one insert (and one of their events; in a batch pass, the events at the pass's end)."""
    rows = [TaskRow(ref=task.ref, version=1, **_task_values(task)) for task in tasks]
    return _add(s, tasks, rows, TaskEventRow, "task_id", _write_task_saves)


def _load_task_row(s: Session, row: TaskRow) -> Loaded[Task]:
    events = [_event(e) for e in s.scalars(_TASK_EVENTS, {"v": row.id})]
    return Loaded(_task(row, events), row.id, row.version, len(events))


def find_task(s: Session, ref: str) -> Loaded[Task] | None:
    row = s.scalars(_TASK_BY_REF, {"v": ref}).one_or_none()
    return None if row is None else _load_task_row(s, row)


def load_task(s: Session, ref: str) -> Loaded[Task]:
    loaded = find_task(s, ref)
    if loaded is None:
        raise NotFound(N_("No task {ref}"), ref=ref)
    return loaded


def load_task_by_id(s: Session, task_id: int) -> Loaded[Task]:
    row = s.get(TaskRow, task_id)
    if row is None:
        raise NotFound(N_("No task {ref}"), ref=str(task_id))
    return _load_task_row(s, row)


def save_task(s: Session, loaded: Loaded[Task]) -> None:
    """``save_case`` for a task (in a batch pass, written with the pass's other tasks when it ends)."""
    ref = loaded.obj.ref
    _save(
        s,
        loaded,
        _task_values(loaded.obj),
        TaskRow,
        TaskEventRow,
        "task_id",
        _write_task_saves,
        lambda: Conflict(N_("Task {ref} was changed meanwhile; try again"), ref=ref),
    )


def list_tasks(s: Session, *, include_closed: bool = False, limit: int = 100) -> list[Task]:
    q = select(TaskRow)
    if not include_closed:
        q = q.where(TaskRow.state.in_(OPEN_TASK))
    q = q.order_by(TaskRow.deadline_at, TaskRow.id).limit(limit)
    return [_task(row, []) for row in s.scalars(q)]


def overdue_task_ids(s: Session, *, now: datetime, limit: int) -> list[int]:
    q = (
        select(TaskRow.id)
        .where(TaskRow.overdue_at.is_(None), TaskRow.deadline_at <= now, TaskRow.state.in_(OPEN_TASK))
        .order_by(TaskRow.deadline_at, TaskRow.id)
        .limit(limit)
    )
    return list(s.scalars(q))


def case_from_row(row: CaseRow) -> Case:
    """A case from its row alone (no history): what queues show."""
    return _case(row, [])
