"""Tables of cases, tasks and their histories (SQLAlchemy 2 typed mappings, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class CaseRow(Base):
    """A case owned by this (the accepting) node. ``version`` is bumped by every write (compare-and-set)."""

    __tablename__ = "cases_case"
    __table_args__ = (
        # The overdue sweep: open cases whose official deadline passed and that are not yet marked.
        Index("ix_cases_case_overdue_scan", "overdue_at", "deadline_at"),
        Index("ix_cases_case_materials_scan", "state", "materials_deadline_at"),
        Index("ix_cases_case_queue", "accepting_office", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    matter: Mapped[str] = mapped_column(String(32))
    procedure: Mapped[str] = mapped_column(String(32))
    applicant: Mapped[str] = mapped_column(String(64))
    accepting_node: Mapped[str] = mapped_column(String(6))
    accepting_office: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    time_limit_value: Mapped[int] = mapped_column(Integer)
    time_limit_unit: Mapped[str] = mapped_column(String(16))
    materials_wait_value: Mapped[int] = mapped_column(Integer)
    materials_wait_unit: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    close_reason: Mapped[str | None] = mapped_column(String(32))
    pauses: Mapped[list[Any]] = mapped_column(JSON)
    paused_since: Mapped[date | None] = mapped_column(Date)
    missing_materials: Mapped[list[Any]] = mapped_column(JSON)
    due: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    materials_due: Mapped[date | None] = mapped_column(Date)
    materials_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    years_without_data: Mapped[str] = mapped_column(String(64), default="")
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)


class CaseEventRow(Base):
    """Append-only history of a case: rows are inserted, never updated or deleted."""

    __tablename__ = "cases_case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_cases_case_event_case_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class TaskRow(Base):
    """A task this node owns: its part of a case owned by another (or the same) node."""

    __tablename__ = "cases_task"
    __table_args__ = (
        Index("ix_cases_task_overdue_scan", "overdue_at", "deadline_at"),
        Index("ix_cases_task_case", "case_node", "case_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ref: Mapped[str] = mapped_column(String(36), unique=True)
    case_node: Mapped[str] = mapped_column(String(6))
    case_number: Mapped[str] = mapped_column(String(32))
    owner_node: Mapped[str] = mapped_column(String(6))
    matter: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    time_limit_value: Mapped[int] = mapped_column(Integer)
    time_limit_unit: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str | None] = mapped_column(String(24))
    due: Mapped[date | None] = mapped_column(Date)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    years_without_data: Mapped[str] = mapped_column(String(64), default="")
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, default=1)


class TaskEventRow(Base):
    __tablename__ = "cases_task_event"
    __table_args__ = (UniqueConstraint("task_id", "seq", name="uq_cases_task_event_task_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("cases_task.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class CaseNumberCounter(Base):
    """The next case number per accepting node and day, advanced with INSERT ... ON CONFLICT ... RETURNING."""

    __tablename__ = "cases_number_counter"

    node: Mapped[str] = mapped_column(String(6), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class CaseWindowRow(Base):
    """What the window recorded with a case besides the domain's fields: where it was accepted, and how to
    reach the applicant (personal data: never logged, never sent to the audit log in clear)."""

    __tablename__ = "cases_case_window"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), primary_key=True)
    division_code: Mapped[str] = mapped_column(String(6), index=True)
    applicant_masked: Mapped[str] = mapped_column(String(24))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8))


class MaterialRow(Base):
    """An uploaded material: the file lives under the node's data dir with a random name, never the upload's."""

    __tablename__ = "cases_material"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), index=True)
    material: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by: Mapped[str] = mapped_column(String(64))


class ConsentRow(Base):
    """A citizen's explicit request that their data be fetched for a case (referenced by evidence requests)."""

    __tablename__ = "cases_consent"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EvidenceRequestRow(Base):
    """A request to another node for a material its registry holds, under a recorded consent."""

    __tablename__ = "cases_evidence_request"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), index=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("cases_consent.id"))
    target_node: Mapped[str] = mapped_column(String(6))
    material: Mapped[str] = mapped_column(String(64))
    # queued (in the exchange's outbox) | waiting_for_exchange | received | refused
    state: Mapped[str] = mapped_column(String(24))
    envelope_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    # Whose record is asked for: a keyed digest of the ID number (``cid:...``), never the number itself.
    subject_ref: Mapped[str | None] = mapped_column(String(64))
    # The hash of the request envelope's bytes: the answer names it (``in_reply_to``).
    request_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(32))  # a refusal's code


class LookedUpMaterialRow(Base):
    """A material of a case looked up from a registry (another node's extract), never a photocopy."""

    __tablename__ = "cases_looked_up_material"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases_case.id"), index=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("cases_evidence_request.id"), unique=True)
    material: Mapped[str] = mapped_column(String(64))
    source_node: Mapped[str] = mapped_column(String(6))
    subject_ref: Mapped[str] = mapped_column(String(64))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    looked_up_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationRow(Base):
    """A message to a user or an applicant: in the app, or by SMS / e-mail through an adapter.

    ``key`` is the idempotency key: one message per key, however often its cause is retried; the adapter
    receives it too, so a re-sent SMS or e-mail is recognised downstream. ``message`` is an English msgid
    rendered with ``params`` in the recipient's ``locale`` when shown or sent.
    """

    __tablename__ = "cases_notification"
    __table_args__ = (
        Index("ix_cases_notification_inbox", "recipient", "read_at"),
        Index("ix_cases_notification_pending", "channel", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8))
    message: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    case_number: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
