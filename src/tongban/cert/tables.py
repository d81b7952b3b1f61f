"""Rows of the CERT capability."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class CertRequestRow(Base):
    """At the accepting node: a certificate request sent for a case (by its number: no foreign key, so the
    cert migrations stay independent of the cases branch), and what came back."""

    __tablename__ = "cert_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(16))
    routed_by: Mapped[str] = mapped_column(String(16))  # locator | id-prefix
    envelope_id: Mapped[str | None] = mapped_column(String(36))
    request_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    consent_ref: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), index=True)  # sent | issued | refused
    reason: Mapped[str | None] = mapped_column(String(32))
    paper_number: Mapped[str | None] = mapped_column(String(64))
    paper_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
