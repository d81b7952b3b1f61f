"""Audit tables: an append-only log of who did what to which object, chained by a sealer.

A writer inserts an ``audit_log`` row in the same transaction as its change (``service.record_audit``) and
leaves the chain columns empty. The sealer (``jobs.seal_pending``) later links committed rows in batches:
it gives each one the next ``chain_pos``, the previous row's hash and its own hash, and appends an
``audit_seals`` checkpoint naming the new chain head. Chain order is the order of sealing, not ``seq``: a
row whose transaction commits late (PostgreSQL hands out ``seq`` before commit) is simply sealed in a
later batch, so no writer ever waits on the chain head and no gap in ``seq`` stalls the sealer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class AuditRow(Base):
    """One audited action. Never updated except by the sealer filling the chain columns once."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(128), nullable=False)
    object_type: Mapped[str] = mapped_column(String(64), nullable=False)
    object_id: Mapped[str] = mapped_column(String(128), nullable=False)
    # Salted SHA-256 of the canonical JSON of the change (None when the action has no change body).
    change_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    change_salt: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Canonical JSON of what may be kept in clear: the changed field names, and values of non-personal fields.
    change_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Chain columns, filled once by the sealer.
    chain_pos: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    row_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_actor_at", "actor", "at"),
    )


class AuditSeal(Base):
    """A checkpoint appended by each sealing batch: the chain head after it.

    The newest seal names the last sealed position and its hash, so deleting the LAST rows of the chain
    (which leaves no broken link behind) is detected: the chain no longer reaches the sealed head.
    """

    __tablename__ = "audit_seals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    first_pos: Mapped[int] = mapped_column(Integer, nullable=False)
    last_pos: Mapped[int] = mapped_column(Integer, nullable=False, unique=True)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class PeerHead(Base):
    """A chain head another node published to this one (``audit.head.v1`` over the exchange).

    Kept so that the node which sent it cannot later rewrite its sealed history unnoticed: ``tongban audit
    peers`` compares a node's chain with the heads its peers hold. ``proof`` is the signed envelope as
    received, showing a third party that the node itself stated this head.
    """

    __tablename__ = "audit_peer_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    peer: Mapped[str] = mapped_column(String(6), nullable=False)
    pos: Mapped[int] = mapped_column(Integer, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    proof: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)

    __table_args__ = (UniqueConstraint("peer", "pos", "head_hash"),)
