"""Rows of the CERT capability."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class CertRequestRow(Base):
    """At the accepting node: a certificate request sent for a case (by its number: no foreign key, so the
    cert migrations stay independent of the cases branch), and what came back."""

    __tablename__ = "cert_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(16))  # None while the locator is asked
    routed_by: Mapped[str] = mapped_column(String(16))  # locator
    # The locator question asked at acceptance (the hash of its envelope): its answer routes the request.
    question_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # While routing only: the request's body (it holds the ID number), cleared once sent or refused.
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    envelope_id: Mapped[str | None] = mapped_column(String(36))
    request_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    consent_ref: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), index=True)  # routing | sent | issued | refused | closed
    reason: Mapped[str | None] = mapped_column(String(32))
    paper_number: Mapped[str | None] = mapped_column(String(64))
    paper_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CertReviewRow(Base):
    """At the hukou node: a request waiting for a reviewer (where the catalog does not allow automatic
    issuing), with what is needed to decide and answer it later. The ID number is kept until the decision."""

    __tablename__ = "cert_review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_ref: Mapped[str] = mapped_column(String(128), unique=True)
    sender: Mapped[str] = mapped_column(String(16))
    case_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    id_number: Mapped[str | None] = mapped_column(String(18))
    id_masked: Mapped[str] = mapped_column(String(24))
    purpose: Mapped[str] = mapped_column(String(100))
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    consent_ref: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64), unique=True)
    division_code: Mapped[str] = mapped_column(String(6), index=True)  # the person's hukou division
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | issued | refused
    reason: Mapped[str | None] = mapped_column(String(32))
    paper_number: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
