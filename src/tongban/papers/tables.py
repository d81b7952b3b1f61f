"""Papers tables: issued papers (payload bytes exactly as signed), number counters, revocation lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class PaperRow(Base):
    """One issued paper. Payload and signature are stored exactly as signed and never rewritten."""

    __tablename__ = "papers_paper"
    __table_args__ = (
        UniqueConstraint("issuer", "number", name="uq_papers_paper_issuer_number"),
        Index("ix_papers_paper_subject_ref", "subject_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(6), nullable=False)
    number: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    # The county-level division the paper belongs to (the subject's registration): its access scope.
    division_code: Mapped[str] = mapped_column(String(6), nullable=False)
    # Opaque reference of the person in the issuer's registry (never an ID number).
    subject_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sig_alg: Mapped[str] = mapped_column(String(16), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    issued_by: Mapped[str] = mapped_column(String(128), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reissue_of: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PaperCounterRow(Base):
    """The next sequence number of papers per (issuer, type short code, year)."""

    __tablename__ = "papers_counter"

    issuer: Mapped[str] = mapped_column(String(6), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, nullable=False)


class RevocationListRow(Base):
    """Every signed revocation list an issuer published; the newest serial is the current one."""

    __tablename__ = "papers_revocation_list"
    __table_args__ = (UniqueConstraint("issuer", "serial", name="uq_papers_revocation_list_issuer_serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(6), nullable=False)
    serial: Mapped[int] = mapped_column(Integer, nullable=False)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sig_alg: Mapped[str] = mapped_column(String(16), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
