"""Queries of the nation's own table (the residents of this province whose hukou is elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, insert, inspect, select
from sqlalchemy.orm import Session

from tongban.nation.tables import Resident


def add_residents(s: Session, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        s.execute(insert(Resident), list(rows))


def count_residents(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Resident)) or 0)


def residents_by_id_numbers(s: Session, id_numbers: Sequence[str]) -> list[Resident]:
    return list(
        s.scalars(select(Resident).where(Resident.id_number.in_(id_numbers)).order_by(Resident.id_number))
    )


def all_residents(s: Session) -> list[Resident]:
    return list(s.scalars(select(Resident).order_by(Resident.id_number)))


def has_table(s: Session) -> bool:
    """Whether the node's schema has the nation's table yet (a node not migrated to the nation branch)."""
    return inspect(s.connection()).has_table(Resident.__tablename__)
