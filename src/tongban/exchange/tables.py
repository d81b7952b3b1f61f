"""Outbox, inbox and rejections of one node's exchange (in the node's own database)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class OutboxRow(Base):
    """An envelope this node sends; written in the transaction of the change it reports, open until receipted.

    States: ``queued`` (never sent), ``sent`` (awaiting receipt), ``acknowledged``, ``rejected`` (negative
    receipt), ``parked`` (re-sends exhausted: an operator decides).
    """

    __tablename__ = "exchange_outbox"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(120))
    case_ref: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_exchange_outbox_due", "state", "next_attempt_at"),
        Index("ix_exchange_outbox_recipient", "recipient", "state"),
    )


class InboxRow(Base):
    """An envelope received, verified and kept; a worker applies it. Unique per (sender, id).

    States: ``received`` (to apply), ``waiting`` (depends on a message not applied yet), ``applied``,
    ``parked`` (its handler kept failing: an operator decides).
    """

    __tablename__ = "exchange_inbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(16))
    envelope_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(120))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    raw_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    # Whether the (positive) receipt still has to be sent to the sender.
    receipt_due: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        UniqueConstraint("sender", "envelope_id", name="uq_exchange_inbox_sender_envelope"),
        Index("ix_exchange_inbox_due", "state", "next_attempt_at"),
        Index("ix_exchange_inbox_receipt", "receipt_due", "sender"),
    )


class RejectionRow(Base):
    """An envelope refused on receipt, with the reason. The raw bytes are not kept, only their hash and size."""

    __tablename__ = "exchange_rejection"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    sender: Mapped[str | None] = mapped_column(String(16))  # as claimed; authentic only when verified
    envelope_id: Mapped[str | None] = mapped_column(String(36))
    type: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(500))
    retryable: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    receipt_due: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_exchange_rejection_receipt", "receipt_due", "sender"),
        Index("ix_exchange_rejection_sender", "sender", "at"),
    )


class ProbeRow(Base):
    """A probe received from a peer (``exchange.probe.v1``): the exchange's own end-to-end check.

    One row per application, deliberately without a uniqueness constraint on the envelope id, so that a
    double application would show in ``tongban exchange status`` and in the crash tests.
    """

    __tablename__ = "exchange_probe"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(16))
    envelope_id: Mapped[str] = mapped_column(String(36))
    label: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_exchange_probe_sender", "sender", "label"),)


class LocatorEntryRow(Base):
    """The national locator's map (on the locator node): keyed digest of an ID number -> current node.

    No ID number and no name is stored: only the HMAC digest.
    """

    __tablename__ = "exchange_locator_entry"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    node: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # registered | cancelled | in_transit
    case_ref: Mapped[str | None] = mapped_column(String(64))  # in transit: the owning (destination) case
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the registration change's time
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LocatorAnswerRow(Base):
    """An answer of the locator to a question of this node, keyed by the question's hash."""

    __tablename__ = "exchange_locator_answer"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question_hash: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    node: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # registered | cancelled | in_transit | unknown
    case_ref: Mapped[str | None] = mapped_column(String(64))  # in transit: the owning (destination) case
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("question_hash", name="uq_exchange_locator_answer_question_hash"),)


class ControlRow(Base):
    """Operator switches of this node's exchange, by name (``relay_paused``: the invariant checker's pause).

    A switch holds until ``until``, so a checker that dies while it holds the pause does not stop the relay
    for ever.
    """

    __tablename__ = "exchange_control"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
