"""The exchange's queries (the only module with SQL)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tongban.exchange.tables import InboxRow, OutboxRow, RejectionRow

OUT_QUEUED, OUT_SENT, OUT_ACKED, OUT_REJECTED, OUT_PARKED = (
    "queued",
    "sent",
    "acknowledged",
    "rejected",
    "parked",
)
IN_RECEIVED, IN_WAITING, IN_APPLIED, IN_PARKED = "received", "waiting", "applied", "parked"


def inbox_entry(session: Session, sender: str, envelope_id: str) -> InboxRow | None:
    return session.scalars(
        select(InboxRow).where(InboxRow.sender == sender, InboxRow.envelope_id == envelope_id)
    ).one_or_none()


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
class DueSend:
    id: str
    recipient: str
    raw: bytes
    attempts: int


def due_outbox(session: Session, now: datetime, limit: int) -> list[DueSend]:
    return [
        DueSend(id=r.id, recipient=r.recipient, raw=r.raw, attempts=r.attempts)
        for r in session.execute(
            select(OutboxRow.id, OutboxRow.recipient, OutboxRow.raw, OutboxRow.attempts)
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


def mark_receipted(session: Session, sender: str, ids: list[str]) -> None:
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        session.execute(
            update(InboxRow)
            .where(InboxRow.sender == sender, InboxRow.envelope_id.in_(chunk))
            .values(receipt_due=False)
        )
        session.execute(
            update(RejectionRow)
            .where(RejectionRow.sender == sender, RejectionRow.envelope_id.in_(chunk))
            .values(receipt_due=False)
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
