"""Queries of the migration capability (the only module with its SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.core import batching
from tongban.core.errors import Conflict
from tongban.core.i18n import N_
from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow, MigrationTaskRow

# Read at every step of every case: built once with a bound value.
_CASE_ROW = select(MigrationCaseRow).where(MigrationCaseRow.case_number == bindparam("v"))
_CASE_ROW_LOCKED = _CASE_ROW.with_for_update()
_TASK_ROW = select(MigrationTaskRow).where(MigrationTaskRow.case_number == bindparam("v"))
_TASK_ROW_LOCKED = _TASK_ROW.with_for_update()


def case_row(s: Session, case_number: str, *, lock: bool = False) -> MigrationCaseRow | None:
    return s.scalars(_CASE_ROW_LOCKED if lock else _CASE_ROW, {"v": case_number}).one_or_none()


def case_rows(s: Session, case_numbers: Sequence[str], *, lock: bool = False) -> dict[str, MigrationCaseRow]:
    """The case rows of ``case_numbers`` that exist, by number, in one statement (locked in id order)."""
    if not case_numbers:
        return {}
    q = (
        select(MigrationCaseRow)
        .where(MigrationCaseRow.case_number.in_(case_numbers))
        .order_by(MigrationCaseRow.id)
    )
    return {row.case_number: row for row in s.scalars(q.with_for_update() if lock else q)}


def task_row(s: Session, case_number: str, *, lock: bool = False) -> MigrationTaskRow | None:
    return s.scalars(_TASK_ROW_LOCKED if lock else _TASK_ROW, {"v": case_number}).one_or_none()


def task_rows(s: Session, case_numbers: Sequence[str], *, lock: bool = False) -> dict[str, MigrationTaskRow]:
    """The tasks of the cases that have one here, by case number (locked in id order with ``lock``)."""
    q = select(MigrationTaskRow).where(MigrationTaskRow.case_number.in_(case_numbers))
    q = q.order_by(MigrationTaskRow.id)
    return {row.case_number: row for row in s.scalars(q.with_for_update() if lock else q)}


def task_numbers(s: Session, case_numbers: Sequence[str]) -> set[str]:
    """Which of the cases have a task here."""
    q = select(MigrationTaskRow.case_number).where(MigrationTaskRow.case_number.in_(case_numbers))
    return set(s.scalars(q))


def open_of(s: Session, person_ref: str) -> MigrationOpenRow | None:
    return s.get(MigrationOpenRow, person_ref)


_open_inserts: dict[str, Any] = {}


def _open_insert(dialect: str) -> Any:
    found = _open_inserts.get(dialect)
    if found is None:
        table: Table = MigrationOpenRow.__table__  # type: ignore[assignment]
        ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        found = (
            ins.values(
                person_ref=bindparam("ref"),
                case_number=bindparam("number"),
                role=bindparam("role"),
                since=bindparam("since", type_=MigrationOpenRow.__table__.c.since.type),
            )
            .on_conflict_do_nothing(index_elements=["person_ref"])
            .returning(table.c.person_ref)
        )
        _open_inserts[dialect] = found
    return found


def try_open(s: Session, *, person_ref: str, case_number: str, role: str, now: datetime) -> str | None:
    """Mark a migration of the person open here; the case number of the one already open if there is one.

    One ``INSERT ... ON CONFLICT DO NOTHING`` on the primary key: of two concurrent openers (PostgreSQL) one
    inserts and the other finds the first one's mark, never an error that spoils the caller's transaction.
    In a batch pass that read its persons' marks first (``read_open_marks``), the answer comes from what it
    read and the marks are inserted together when the pass ends (a mark taken meanwhile fails the pass)."""
    current = batching.active(s)
    known: dict[str, str | None] | None = current.read.get(_OPEN_MARKS) if current is not None else None
    if known is not None and person_ref in known:
        other = known[person_ref]
        if other is not None:
            return other
        known[person_ref] = case_number
        batching.defer(s, _OPEN_MARKS, (person_ref, case_number, role, now), _insert_open_marks)
        return None
    stmt = _open_insert(s.get_bind().dialect.name)
    inserted = s.execute(stmt, {"ref": person_ref, "number": case_number, "role": role, "since": now})
    if inserted.first() is not None:
        return None
    found = s.scalar(select(MigrationOpenRow.case_number).where(MigrationOpenRow.person_ref == person_ref))
    return found if found is not None else "?"


_OPEN_MARKS = "migration.open"


def read_open_marks(s: Session, person_refs: Sequence[str]) -> None:
    """In a batch pass: read which of the persons have a migration open here (one statement), so that the
    pass's ``try_open`` calls are answered without a statement each. Without a pass, nothing."""
    current = batching.active(s)
    if current is None or not person_refs:
        return
    found = dict(
        s.execute(
            select(MigrationOpenRow.person_ref, MigrationOpenRow.case_number).where(
                MigrationOpenRow.person_ref.in_(person_refs)
            )
        ).all()
    )
    current.read[_OPEN_MARKS] = {ref: found.get(ref) for ref in person_refs}


def _insert_open_marks(s: Session, marks: list[tuple[str, str, str, datetime]]) -> None:
    rows = [{"person_ref": ref, "case_number": n, "role": role, "since": at} for ref, n, role, at in marks]
    table: Table = MigrationOpenRow.__table__  # type: ignore[assignment]
    ins = postgresql.insert(table) if s.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    stmt = (
        ins.values(rows).on_conflict_do_nothing(index_elements=["person_ref"]).returning(table.c.person_ref)
    )
    if len(set(s.scalars(stmt))) != len(rows):
        raise Conflict(N_("Another migration of a person of the batch was opened meanwhile; try again"))


def try_open_many(s: Session, marks: Sequence[tuple[str, str]], *, role: str, now: datetime) -> set[str]:
    """``try_open`` for many (person_ref, case_number) marks of distinct persons in one statement: the
    person_refs marked now (the others had a migration open already)."""
    if not marks:
        return set()
    table: Table = MigrationOpenRow.__table__  # type: ignore[assignment]
    ins = postgresql.insert(table) if s.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    stmt = (
        ins.values([{"person_ref": ref, "case_number": n, "role": role, "since": now} for ref, n in marks])
        .on_conflict_do_nothing(index_elements=["person_ref"])
        .returning(table.c.person_ref)
    )
    return set(s.scalars(stmt))


def close_open(s: Session, *, person_ref: str, case_number: str) -> None:
    """The migration ``case_number`` of the person ended here (another one's mark is left alone). In a batch
    pass, the marks of the pass are deleted in one statement when it ends."""
    if not batching.defer(s, "migration.open.close", (person_ref, case_number), _close_open_marks):
        _close_open_marks(s, [(person_ref, case_number)])


def _close_open_marks(s: Session, marks: list[tuple[str, str]]) -> None:
    if len(marks) == 1:
        (person_ref, case_number), *_ = marks
        s.execute(
            delete(MigrationOpenRow).where(
                MigrationOpenRow.person_ref == person_ref, MigrationOpenRow.case_number == case_number
            )
        )
    else:
        s.execute(
            delete(MigrationOpenRow).where(
                tuple_(MigrationOpenRow.person_ref, MigrationOpenRow.case_number).in_(marks)
            )
        )


def cases_in(s: Session, states: list[str], *, limit: int = 200) -> list[MigrationCaseRow]:
    return list(
        s.scalars(
            select(MigrationCaseRow)
            .where(MigrationCaseRow.state.in_(states))
            .order_by(MigrationCaseRow.id)
            .limit(limit)
        )
    )


def tasks_in(s: Session, states: list[str], *, limit: int = 200) -> list[MigrationTaskRow]:
    return list(
        s.scalars(
            select(MigrationTaskRow)
            .where(MigrationTaskRow.state.in_(states))
            .order_by(MigrationTaskRow.id)
            .limit(limit)
        )
    )


def certificates_ending(s: Session, *, before: datetime, limit: int = 200) -> list[MigrationCaseRow]:
    return list(
        s.scalars(
            select(MigrationCaseRow)
            .where(
                MigrationCaseRow.state == "certificate_received",
                MigrationCaseRow.certificate_valid_until <= before,
            )
            .order_by(MigrationCaseRow.certificate_valid_until)
            .limit(limit)
        )
    )


def numbers_of_person(s: Session, person_ref: str, *, limit: int = 50) -> list[str]:
    """The destination case numbers of one person (the citizen's own migrations), newest first."""
    q = (
        select(MigrationCaseRow.case_number)
        .where(MigrationCaseRow.person_ref == person_ref)
        .order_by(MigrationCaseRow.id.desc())
        .limit(limit)
    )
    return list(s.scalars(q))


def saga_steps(s: Session, case_number: str) -> list[tuple[datetime, str]]:
    """The saga's steps of a destination case, as audited here (time, ``migration.*`` action), in order:
    the timeline the case's own history does not tell (permit sent, certificate received, ...)."""
    from tongban.audit.tables import AuditRow

    q = (
        select(AuditRow.at, AuditRow.action)
        .where(AuditRow.object_type == "case", AuditRow.object_id == case_number)
        .where(AuditRow.action.like("migration.%"))
        .order_by(AuditRow.seq)
    )
    return [(at, action) for at, action in s.execute(q)]
