"""Audit chain heads kept by peers: a node cannot rewrite its sealed history unnoticed.

Whoever can rewrite every row of a node's ``audit_log`` can also recompute every hash and seal, so the checks
inside one database (``verify``) cannot catch a complete rewrite. Each node therefore sends its current sealed
head (``ChainHead``: position and hash) to its peers at intervals (``AuditSettings.head_interval_s``), as the
exchange message ``audit.head.v1`` (signed by the node's envelope key like every envelope). Peers store the
heads they receive in ``audit_peer_heads`` with the signed envelope as proof. ``compare_with_heads`` then
checks a node's chain against those heads: the row at each held position must still carry the held hash.

Only the node itself may state its head: a head whose ``node`` is not the envelope's sender is refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.audit import domain
from tongban.audit.jobs import current_head
from tongban.audit.tables import AuditRow, PeerHead
from tongban.audit.verify import Fault
from tongban.core.node import NodeContext

log = logging.getLogger("tongban.audit.peers")

HEAD_TYPE = "audit.head.v1"
LOCATOR_CODE = "000000"  # the national locator keeps no audit chain of peers' heads


class HeadMessage(BaseModel):
    node: str = Field(pattern="^[0-9]{6}$")
    pos: int = Field(ge=0)
    hash: str = Field(pattern="^[0-9a-f]{64}$")
    sealed_at: datetime | None


@dataclass(frozen=True)
class HeldHead:
    """A head of ``node``'s chain held by ``holder``."""

    holder: str
    node: str
    pos: int
    hash: str


# -- sending ---------------------------------------------------------------------------------------------


def publish_head(node: NodeContext, *, last: domain.ChainHead | None = None) -> domain.ChainHead | None:
    """Send the node's current sealed head to every peer of its directory, in one transaction.

    Returns the head sent, or None when there is nothing new to send (no exchange, no sealed row, or the
    same head as ``last``).
    """
    from tongban.exchange.service import enqueue, exchange_of

    if "exchange" not in node.services:
        return None
    head = current_head(node.db, node=node.code)
    if head.pos == 0 or (last is not None and (last.pos, last.hash) == (head.pos, head.hash)):
        return None
    peers = [
        n.code for n in exchange_of(node).directory.current.nodes if n.code not in (node.code, LOCATOR_CODE)
    ]
    body = HeadMessage(node=head.node, pos=head.pos, hash=head.hash, sealed_at=head.sealed_at)
    with node.db.transaction() as s:
        for peer in peers:
            enqueue(s, node=node, recipient=peer, type=HEAD_TYPE, body=body.model_dump(mode="json"))
    return head


class HeadPublisher:
    """A background thread publishing a node's head every ``interval_s`` while the node has an exchange."""

    def __init__(self, node: NodeContext, *, interval_s: float) -> None:
        self.node = node
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._last: domain.ChainHead | None = None
        self._thread = threading.Thread(target=self._run, name=f"audit-heads-{node.code}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def tick(self) -> None:
        sent = publish_head(self.node, last=self._last)
        if sent is not None:
            self._last = sent

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # a failed round is retried at the next one
                log.exception("publishing the audit head of %s failed", self.node.code)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


# -- receiving -------------------------------------------------------------------------------------------


def apply_head(session: Session, node: NodeContext, incoming: object) -> None:
    from tongban.exchange.service import Incoming

    assert isinstance(incoming, Incoming)
    head = incoming.message
    assert isinstance(head, HeadMessage)
    if head.node != incoming.envelope.sender:
        raise ValueError("a node states only its own audit head")
    known = session.scalars(
        select(PeerHead.id).where(
            PeerHead.peer == head.node, PeerHead.pos == head.pos, PeerHead.head_hash == head.hash
        )
    ).first()
    if known is not None:
        return
    session.add(
        PeerHead(
            peer=head.node,
            pos=head.pos,
            head_hash=head.hash,
            sealed_at=head.sealed_at,
            received_at=node.clock.now(),
            proof=incoming.envelope.raw,
        )
    )


def heads_held(session: Session, *, holder: str, about: str | None = None) -> list[HeldHead]:
    """The heads this database (of node ``holder``) holds, of node ``about`` or of all peers."""
    q = select(PeerHead).order_by(PeerHead.peer, PeerHead.pos)
    if about is not None:
        q = q.where(PeerHead.peer == about)
    return [HeldHead(holder, h.peer, h.pos, h.head_hash) for h in session.scalars(q)]


# -- comparing -------------------------------------------------------------------------------------------


def compare_with_heads(session: Session, heads: Iterable[HeldHead]) -> list[Fault]:
    """Faults where the local chain no longer carries a head a peer holds (rows rewritten or removed)."""
    faults = []
    for h in sorted(heads, key=lambda h: (h.pos, h.holder)):
        row = session.scalars(select(AuditRow).where(AuditRow.chain_pos == h.pos)).one_or_none()
        if row is None:
            faults.append(
                Fault(h.pos, None, "peer-head", f"node {h.holder} holds a head at this position; it is gone")
            )
        elif row.row_hash != h.hash:
            faults.append(
                Fault(
                    h.pos,
                    row.seq,
                    "peer-head",
                    f"differs from the head node {h.holder} received: sealed history was rewritten",
                )
            )
    return faults


def register_exchange_type() -> None:
    """Register ``audit.head.v1`` and its handler with the exchange (called by the exchange's runtime)."""
    from tongban.exchange.domain import types
    from tongban.exchange.service import register_handler

    types.register(HEAD_TYPE, HeadMessage)  # idempotent
    register_handler(HEAD_TYPE, apply_head)


__all__: Sequence[str] = (
    "HEAD_TYPE",
    "HeadMessage",
    "HeadPublisher",
    "HeldHead",
    "apply_head",
    "compare_with_heads",
    "heads_held",
    "publish_head",
    "register_exchange_type",
)
