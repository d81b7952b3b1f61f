"""The audit capability's queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event, func, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from tongban.audit.tables import AuditRow, AuditSeal

_INSERT = insert(cast(Table, AuditRow.__table__))


_PENDING = "tongban.audit.pending"


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
    """Add an audit row to the session's transaction.

    The row is kept in the session and written, with every other row of the transaction, by one multi-row
    insert just before the transaction commits (``write_pending``, from the ``before_commit`` hook below): a
    transaction that audits many changes (a batch of cases, say) costs one statement, not one per change. Rows
    added inside a savepoint that rolls back are dropped with it; a rolled-back transaction writes none. The
    audit's own readers write pending rows first, so they see them.
    """
    pending: list[tuple[SessionTransaction | None, dict[str, Any]]] | None = session.info.get(_PENDING)
    if pending is None:
        # Begin the transaction the row belongs to now (a session autobegins only when it first runs a
        # statement), so that its rollback is seen and drops the row.
        session.connection()
        pending = session.info[_PENDING] = []
    values = {
        "at": at,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "change_digest": change_digest,
        "change_salt": change_salt,
        "change_summary": change_summary,
    }
    pending.append((session.get_nested_transaction(), values))


def pending_count(session: Session) -> int:
    """Rows added in this session's transaction and not yet written."""
    return len(session.info.get(_PENDING) or ())


def write_pending(session: Session) -> int:
    """Write the rows added in this session's transaction (one statement); returns how many."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return 0
    # A Core insert of a prepared statement: no ORM unit of work, no id read back (the writer never needs it).
    session.connection().execute(_INSERT, [values for _, values in pending])
    return len(pending)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    # Fires for the release of a savepoint too: write only when the outermost transaction commits.
    if session.info.get(_PENDING) and session.get_nested_transaction() is None:
        write_pending(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    session.info[_PENDING] = [
        (added_in, values) for added_in, values in pending if not _within(added_in, previous_transaction)
    ]


@event.listens_for(Session, "after_transaction_end")
def _drop_at_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended without writing them (closed, rolled back): they belong to no one now.
    if transaction.parent is None and session.info.get(_PENDING):
        session.info.pop(_PENDING, None)


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def unsealed(session: Session, limit: int) -> Sequence[AuditRow]:
    """Committed rows not yet in the chain, oldest first."""
    write_pending(session)
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
    write_pending(session)
    return int(session.execute(select(func.count()).select_from(AuditRow)).scalar_one())


def recent(
    session: Session, *, object_type: str | None = None, object_id: str | None = None, limit: int = 100
) -> Sequence[AuditRow]:
    write_pending(session)
    q = select(AuditRow)
    if object_type is not None:
        q = q.where(AuditRow.object_type == object_type)
    if object_id is not None:
        q = q.where(AuditRow.object_id == object_id)
    return session.execute(q.order_by(AuditRow.seq.desc()).limit(limit)).scalars().all()


def count_unsealed(session: Session) -> int:
    write_pending(session)
    q = select(func.count()).select_from(AuditRow).where(AuditRow.chain_pos.is_(None))
    return int(session.execute(q).scalar_one())
