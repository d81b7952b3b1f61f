"""The audit capability's queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from tongban.audit.tables import AuditRow, AuditSeal

_INSERT = insert(cast(Table, AuditRow.__table__))


def add_row(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    change_digest: str | None,
    change_salt: str | None,
    change_summary: str | None,
) -> None:
    # A Core insert of a prepared statement: no ORM unit of work, no id read back (the writer never needs it).
    session.connection().execute(
        _INSERT,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "object_type": object_type,
            "object_id": object_id,
            "change_digest": change_digest,
            "change_salt": change_salt,
            "change_summary": change_summary,
        },
    )


def unsealed(session: Session, limit: int) -> Sequence[AuditRow]:
    """Committed rows not yet in the chain, oldest first."""
    q = select(AuditRow).where(AuditRow.chain_pos.is_(None)).order_by(AuditRow.seq).limit(limit)
    return session.execute(q).scalars().all()


def last_sealed(session: Session) -> AuditRow | None:
    q = select(AuditRow).where(AuditRow.chain_pos.is_not(None)).order_by(AuditRow.chain_pos.desc()).limit(1)
    return session.execute(q).scalars().first()


def add_seal(session: Session, seal: AuditSeal) -> None:
    session.add(seal)
    session.flush()


def latest_seal(session: Session) -> AuditSeal | None:
    return session.execute(select(AuditSeal).order_by(AuditSeal.last_pos.desc()).limit(1)).scalars().first()


def seals(session: Session) -> Sequence[AuditSeal]:
    return session.execute(select(AuditSeal).order_by(AuditSeal.last_pos)).scalars().all()


def sealed_rows(session: Session, after_pos: int, limit: int) -> Sequence[AuditRow]:
    q = (
        select(AuditRow)
        .where(AuditRow.chain_pos.is_not(None), AuditRow.chain_pos > after_pos)
        .order_by(AuditRow.chain_pos)
        .limit(limit)
    )
    return session.execute(q).scalars().all()


def count_rows(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one())


def recent(
    session: Session, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
) -> Sequence[AuditRow]:
    q = select(AuditRow)
    if object_type is not None:
        q = q.where(AuditRow.object_type == object_type)
    if object_id is not None:
        q = q.where(AuditRow.object_id == object_id)
    return session.execute(q.order_by(AuditRow.seq.desc()).limit(limit)).scalars().all()


def count_unsealed(session: Session) -> int:
    q = select(func.count()).select_from(AuditRow).where(AuditRow.chain_pos.is_(None))
    return int(session.execute(q).scalar_one())
