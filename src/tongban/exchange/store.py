"""The exchange's queries (the only module with SQL)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, exists, func, insert, literal, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tongban.core.db import UTCDateTime
from tongban.exchange.tables import InboxRow, OutboxRow, RejectionRow

_K = TypeVar("_K")

OUT_QUEUED, OUT_SENT, OUT_ACKED, OUT_REJECTED, OUT_PARKED = (
    "queued",
    "sent",
    "acknowledged",
    "rejected",
    "parked",
)
IN_RECEIVED, IN_WAITING, IN_APPLIED, IN_PARKED = "received", "waiting", "applied", "parked"


_CHUNK = 500  # keys per statement: well under every backend's limit of bound parameters


def _chunks(keys: list[_K]) -> Iterator[list[_K]]:
    for first in range(0, len(keys), _CHUNK):
        yield keys[first : first + _CHUNK]


def _not_indexed(column: Any) -> Any:
    """``column`` as an expression no index serves, for a filter beside a list of keys.

    Without statistics SQLite's planner prefers an index on (recipient, ...) or (state, ...) to the primary
    key, and then walks every row of that peer or state (all of a peer's outbox until it is purged) to update
    the few rows listed; the keys must decide the search, the other conditions only filter.
    """
    return column.concat("")


def inbox_entry(session: Session, sender: str, envelope_id: str) -> InboxRow | None:
    return session.scalars(
        select(InboxRow).where(InboxRow.sender == sender, InboxRow.envelope_id == envelope_id)
    ).one_or_none()


def inbox_hashes(session: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored byte hashes of the given (sender, envelope id) pairs that are in the inbox."""
    out: dict[tuple[str, str], str] = {}
    by_sender: dict[str, list[str]] = defaultdict(list)
    for sender, eid in keys:
        by_sender[sender].append(eid)
    for sender, ids in by_sender.items():
        for chunk in _chunks(ids):
            for eid, raw_hash in session.execute(
                select(InboxRow.envelope_id, InboxRow.raw_hash).where(
                    InboxRow.sender == sender, InboxRow.envelope_id.in_(chunk)
                )
            ):
                out[(sender, eid)] = raw_hash
    return out


def insert_inbox(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert new inbox rows in one executemany (a unique (sender, id) violation fails the whole batch)."""
    if rows:
        session.connection().execute(insert(InboxRow), rows)  # Core: no ORM bulk-insert bookkeeping


def owe_receipts(session: Session, keys: list[tuple[str, str]]) -> None:
    """Mark accepted messages as owing their (stored) receipt again: they were re-sent."""
    by_sender: dict[str, list[str]] = defaultdict(list)
    for sender, eid in keys:
        by_sender[sender].append(eid)
    for sender, ids in by_sender.items():
        session.execute(
            update(InboxRow)
            .where(InboxRow.sender == sender, InboxRow.envelope_id.in_(ids))
            .values(receipt_due=True)
        )


def due_inbox(session: Session, now: datetime, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(InboxRow.seq)
            .where(InboxRow.state.in_((IN_RECEIVED, IN_WAITING)), InboxRow.next_attempt_at <= now)
            .order_by(InboxRow.seq)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class DueWork:
    """Which of the pump's steps have anything to do (one cheap query instead of one per step when idle)."""

    apply: bool
    receipts: bool
    relay: bool


_NOW = bindparam("now", type_=UTCDateTime())
# Built once: the statement is run on every poll of an idle node.
_DUE_WORK = select(
    exists().where(InboxRow.state.in_((IN_RECEIVED, IN_WAITING)), InboxRow.next_attempt_at <= _NOW),
    exists().where(InboxRow.receipt_due.is_(True)),
    exists().where(RejectionRow.receipt_due.is_(True)),
    exists().where(OutboxRow.state.in_((OUT_QUEUED, OUT_SENT)), OutboxRow.next_attempt_at <= _NOW),
)


def due_work(connection: Connection, now: datetime) -> DueWork:
    inbox_due, inbox_receipts, rejection_receipts, outbox_due = connection.execute(
        _DUE_WORK, {"now": now}
    ).one()
    return DueWork(
        apply=bool(inbox_due),
        receipts=bool(inbox_receipts or rejection_receipts),
        relay=bool(outbox_due),
    )


@dataclass(frozen=True)
class DueSend:
    id: str
    recipient: str
    raw: bytes  # the payload line until the relay has signed it, then the signed envelope
    attempts: int
    created_at: datetime


# Built once; run (on the Core connection, not as an ORM bulk update) as one executemany per relay batch.
_KEEP_SIGNED = (
    update(OutboxRow)
    .where(OutboxRow.id == bindparam("row_id"), OutboxRow.raw == bindparam("unsigned"))
    .values(raw=bindparam("signed"))
)


def keep_signed(session: Session, rows: list[tuple[str, bytes, bytes]]) -> int:
    """Replace each (id, unsigned payload, signed envelope) row's payload by its signed bytes, unless another
    relay signed it first. Returns how many were replaced (or -1 where the driver cannot count them)."""
    if not rows:
        return 0
    connection = session.connection()
    result = connection.execute(
        _KEEP_SIGNED, [{"row_id": rid, "unsigned": old, "signed": new} for rid, old, new in rows]
    )
    if not connection.dialect.supports_sane_multi_rowcount:
        return -1
    return int(result.rowcount)


def park_outbox(session: Session, ids: list[str], *, reason: str) -> None:
    """Park open rows (an operator's retry puts them back in line)."""
    for chunk in _chunks(ids):
        session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(chunk),
                _not_indexed(OutboxRow.state).in_((OUT_QUEUED, OUT_SENT)),
            )
            .values(state=OUT_PARKED, reason=reason)
        )


def outbox_raws(session: Session, ids: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for chunk in _chunks(ids):
        for rid, raw in session.execute(select(OutboxRow.id, OutboxRow.raw).where(OutboxRow.id.in_(chunk))):
            out[rid] = raw
    return out


@dataclass(frozen=True)
class DueMessage:
    seq: int
    type: str
    raw: bytes


def due_inbox_messages(session: Session, now: datetime, limit: int) -> list[DueMessage]:
    """The inbox rows due to be applied, in order, as plain values (no ORM objects)."""
    return [
        DueMessage(seq, type_, raw)
        for seq, type_, raw in session.execute(
            select(InboxRow.seq, InboxRow.type, InboxRow.raw)
            .where(InboxRow.state.in_((IN_RECEIVED, IN_WAITING)), InboxRow.next_attempt_at <= now)
            .order_by(InboxRow.seq)
            .limit(limit)
        )
    ]


def inbox_rows(session: Session, seqs: list[int]) -> list[InboxRow]:
    """Inbox rows by sequence number, in order (loaded once for a group of applications)."""
    return list(session.scalars(select(InboxRow).where(InboxRow.seq.in_(seqs)).order_by(InboxRow.seq)))


def mark_applied(session: Session, seqs: list[int], at: datetime, *, only_due: bool = False) -> int:
    """Mark rows applied (``only_due``: only those still received or waiting); returns how many changed."""
    if not seqs:
        return 0
    low, high = min(seqs), max(seqs)
    if high - low + 1 == len(seqs) == len(set(seqs)):
        # A run of consecutive rows (the usual group): a range, not a list of bound values to expand.
        stmt = update(InboxRow).where(InboxRow.seq.between(low, high))
    else:
        stmt = update(InboxRow).where(InboxRow.seq.in_(seqs))
    if only_due:
        stmt = stmt.where(_not_indexed(InboxRow.state).in_((IN_RECEIVED, IN_WAITING)))
    # Core, on the session's connection: no ORM synchronisation of loaded rows (a row applied here is not
    # otherwise changed in this session, so nothing flushes an older state over this one).
    result = session.connection().execute(stmt.values(state=IN_APPLIED, applied_at=at, error=None))
    return int(result.rowcount)


def due_outbox(session: Session, now: datetime, limit: int) -> list[DueSend]:
    return [
        DueSend(id=r.id, recipient=r.recipient, raw=r.raw, attempts=r.attempts, created_at=r.created_at)
        for r in session.execute(
            select(OutboxRow.id, OutboxRow.recipient, OutboxRow.raw, OutboxRow.attempts, OutboxRow.created_at)
            .where(OutboxRow.state.in_((OUT_QUEUED, OUT_SENT)), OutboxRow.next_attempt_at <= now)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.created_at)
            .limit(limit)
        )
    ]


def receipts_due(session: Session, limit: int) -> dict[str, list[dict[str, Any]]]:
    """Receipt items owed, by sender: accepted inbox entries and verified rejections."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sender, eid in session.execute(
        select(InboxRow.sender, InboxRow.envelope_id).where(InboxRow.receipt_due.is_(True)).limit(limit)
    ):
        out[sender].append({"id": eid, "status": "accepted"})
    for claimed, rid, reason, retryable in session.execute(
        select(RejectionRow.sender, RejectionRow.envelope_id, RejectionRow.reason, RejectionRow.retryable)
        .where(RejectionRow.receipt_due.is_(True))
        .limit(limit)
    ):
        if claimed is not None and rid is not None:
            out[claimed].append({"id": rid, "status": "rejected", "reason": reason, "retryable": retryable})
    return dict(out)


def mark_receipted(
    session: Session, sender: str, ids: list[str], *, rejected: list[str] | None = None
) -> None:
    """The receipt for ``ids`` (accepted, in the inbox) and ``rejected`` (in the rejections log) was sent.

    ``rejected=None``: ``ids`` may be either (both tables are updated)."""
    both = rejected is None
    for table, keys in ((InboxRow, ids), (RejectionRow, ids if both else rejected or [])):
        for chunk in _chunks(keys):
            session.execute(
                update(table)
                .where(table.sender == sender, table.envelope_id.in_(chunk))
                .values(receipt_due=False)
            )


_CLOSED = (OUT_ACKED, OUT_REJECTED)


def close_outbox(
    session: Session, recipient: str, ids: list[str], *, state: str, reason: str | None, at: datetime
) -> None:
    """Close the open outbox rows ``ids`` sent to ``recipient`` (acknowledged or refused by it)."""
    for chunk in _chunks(ids):
        session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(chunk),
                _not_indexed(OutboxRow.recipient) == recipient,
                _not_indexed(OutboxRow.state).not_in(_CLOSED),
            )
            .values(state=state, acked_at=at, reason=reason)
        )


def note_outbox_reason(session: Session, recipient: str, ids: list[str], reason: str | None) -> None:
    """Record why ``recipient`` refused open rows for now (retryable: they keep being re-sent)."""
    for chunk in _chunks(ids):
        session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(chunk),
                _not_indexed(OutboxRow.recipient) == recipient,
                _not_indexed(OutboxRow.state).not_in(_CLOSED),
            )
            .values(reason=reason)
        )


def mark_sent(
    session: Session,
    ids: list[str],
    *,
    attempts_before: int,
    at: datetime,
    next_attempt_at: datetime,
    reason: str | None,
) -> None:
    """Count a publication of rows still queued or sent (not receipted meanwhile) with ``attempts_before``."""
    values: dict[str, Any] = {
        "attempts": OutboxRow.attempts + 1,
        "state": OUT_SENT,
        "sent_at": func.coalesce(OutboxRow.sent_at, literal(at, UTCDateTime())),
        "next_attempt_at": next_attempt_at,
    }
    if reason is not None:
        values["reason"] = reason
    for chunk in _chunks(ids):
        session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.id.in_(chunk),
                _not_indexed(OutboxRow.state).in_((OUT_QUEUED, OUT_SENT)),
                OutboxRow.attempts == attempts_before,
            )
            .values(**values)
        )


def outbox_rows(session: Session, ids: list[str]) -> list[OutboxRow]:
    return list(session.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids))))


def parked_outbox(session: Session, ids: list[str] | None) -> list[OutboxRow]:
    q = select(OutboxRow).where(OutboxRow.state == OUT_PARKED)
    if ids is not None:
        q = q.where(OutboxRow.id.in_(ids))
    return list(session.scalars(q))


def parked_inbox(session: Session, ids: list[str] | None) -> list[InboxRow]:
    q = select(InboxRow).where(InboxRow.state == IN_PARKED)
    if ids is not None:
        q = q.where(InboxRow.envelope_id.in_(ids))
    return list(session.scalars(q))


def outbox_counts(session: Session) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for peer, state, n in session.execute(
        select(OutboxRow.recipient, OutboxRow.state, func.count()).group_by(
            OutboxRow.recipient, OutboxRow.state
        )
    ):
        out[peer][state] = n
    return dict(out)


def inbox_counts(session: Session) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for peer, state, n in session.execute(
        select(InboxRow.sender, InboxRow.state, func.count()).group_by(InboxRow.sender, InboxRow.state)
    ):
        out[peer][state] = n
    return dict(out)


def rejection_counts(session: Session) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for peer, reason, n in session.execute(
        select(RejectionRow.sender, RejectionRow.reason, func.count()).group_by(
            RejectionRow.sender, RejectionRow.reason
        )
    ):
        out[peer or "?"][reason] = n
    return dict(out)


def rejected_outbox(session: Session, limit: int = 50) -> list[OutboxRow]:
    return list(
        session.scalars(
            select(OutboxRow)
            .where(OutboxRow.state.in_((OUT_REJECTED, OUT_PARKED)))
            .order_by(OutboxRow.created_at.desc())
            .limit(limit)
        )
    )


def parked_inbox_rows(session: Session, limit: int = 50) -> list[InboxRow]:
    return list(
        session.scalars(
            select(InboxRow).where(InboxRow.state == IN_PARKED).order_by(InboxRow.seq.desc()).limit(limit)
        )
    )


def recent_rejections(session: Session, limit: int = 50) -> list[RejectionRow]:
    return list(session.scalars(select(RejectionRow).order_by(RejectionRow.seq.desc()).limit(limit)))


def purge(
    session: Session, *, inbox_before: datetime, rejections_before: datetime, outbox_before: datetime
) -> int:
    """Forget applied inbox ids, closed outbox rows and rejections older than their retention."""
    n = 0
    for stmt in (
        delete(InboxRow).where(
            InboxRow.state == IN_APPLIED, InboxRow.received_at < inbox_before, InboxRow.receipt_due.is_(False)
        ),
        delete(OutboxRow).where(
            OutboxRow.state.in_((OUT_ACKED, OUT_REJECTED)), OutboxRow.created_at < outbox_before
        ),
        delete(RejectionRow).where(RejectionRow.at < rejections_before, RejectionRow.receipt_due.is_(False)),
    ):
        n += session.execute(stmt).rowcount  # type: ignore[attr-defined]
    return n
