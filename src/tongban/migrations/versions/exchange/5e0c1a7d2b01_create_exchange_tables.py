"""create exchange tables

Revision ID: 5e0c1a7d2b01
Revises:
Create Date: 2026-11-27 14:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tongban.core.db

revision: str = "5e0c1a7d2b01"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("exchange",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_outbox",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recipient", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=120), nullable=False),
        sa.Column("case_ref", sa.String(length=64), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", tongban.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acked_at", tongban.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_outbox")),
    )
    op.create_index("ix_exchange_outbox_due", "exchange_outbox", ["state", "next_attempt_at"], unique=False)
    op.create_index("ix_exchange_outbox_recipient", "exchange_outbox", ["recipient", "state"], unique=False)
    op.create_table(
        "exchange_inbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("envelope_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=120), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("raw_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", tongban.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("receipt_due", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_inbox")),
        sa.UniqueConstraint("sender", "envelope_id", name="uq_exchange_inbox_sender_envelope"),
    )
    op.create_index("ix_exchange_inbox_due", "exchange_inbox", ["state", "next_attempt_at"], unique=False)
    op.create_index("ix_exchange_inbox_receipt", "exchange_inbox", ["receipt_due", "sender"], unique=False)
    op.create_table(
        "exchange_rejection",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=True),
        sa.Column("envelope_id", sa.String(length=36), nullable=True),
        sa.Column("type", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("receipt_due", sa.Boolean(), nullable=False),
        sa.Column("raw_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_rejection")),
    )
    op.create_index(
        "ix_exchange_rejection_receipt", "exchange_rejection", ["receipt_due", "sender"], unique=False
    )
    op.create_index("ix_exchange_rejection_sender", "exchange_rejection", ["sender", "at"], unique=False)
    op.create_table(
        "exchange_probe",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("envelope_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("sent_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", tongban.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_probe")),
    )
    op.create_index("ix_exchange_probe_sender", "exchange_probe", ["sender", "label"], unique=False)


def downgrade() -> None:
    op.drop_table("exchange_probe")
    op.drop_table("exchange_rejection")
    op.drop_table("exchange_inbox")
    op.drop_table("exchange_outbox")
