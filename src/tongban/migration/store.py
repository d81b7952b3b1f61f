"""Queries of the migration capability (the only module with its SQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow, MigrationTaskRow


def case_row(s: Session, case_number: str, *, lock: bool = False) -> MigrationCaseRow | None:
    q = select(MigrationCaseRow).where(MigrationCaseRow.case_number == case_number)
    if lock:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def task_row(s: Session, case_number: str, *, lock: bool = False) -> MigrationTaskRow | None:
    q = select(MigrationTaskRow).where(MigrationTaskRow.case_number == case_number)
    if lock:
        q = q.with_for_update()
    return s.scalars(q).one_or_none()


def open_of(s: Session, person_ref: str) -> MigrationOpenRow | None:
    return s.get(MigrationOpenRow, person_ref)


def try_open(s: Session, *, person_ref: str, case_number: str, role: str, now: datetime) -> str | None:
    """Mark a migration of the person open here; the case number of the one already open if there is one.

    The insert runs in a savepoint: a concurrent opener (PostgreSQL) loses on the primary key, not with an
    error that spoils the caller's transaction."""
    existing = s.get(MigrationOpenRow, person_ref)
    if existing is not None:
        return existing.case_number
    try:
        with s.begin_nested():
            s.add(MigrationOpenRow(person_ref=person_ref, case_number=case_number, role=role, since=now))
            s.flush()
    except IntegrityError:
        found = s.get(MigrationOpenRow, person_ref)
        return found.case_number if found is not None else "?"
    return None


def close_open(s: Session, *, person_ref: str, case_number: str) -> None:
    """The migration ``case_number`` of the person ended here (another one's mark is left alone)."""
    s.execute(
        delete(MigrationOpenRow).where(
            MigrationOpenRow.person_ref == person_ref, MigrationOpenRow.case_number == case_number
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
