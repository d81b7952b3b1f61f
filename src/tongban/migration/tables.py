"""Rows of the migration capability (no foreign keys to other capabilities' tables: cases are named by
number, so this branch of migrations stays independent)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class MigrationCaseRow(Base):
    """At the destination: the saga of one migration case (the case itself is a ``cases_case`` row)."""

    __tablename__ = "migration_case"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    matter: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(16))  # the origin node
    routed_by: Mapped[str] = mapped_column(String(16))  # given | locator | id-prefix
    id_number: Mapped[str] = mapped_column(String(18))
    person_ref: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    household_number: Mapped[str | None] = mapped_column(String(32))
    relation: Mapped[str | None] = mapped_column(String(24))
    destination_division: Mapped[str] = mapped_column(String(6))
    destination_address: Mapped[str] = mapped_column(String(200))
    origin_division: Mapped[str] = mapped_column(String(6))
    origin_address: Mapped[str] = mapped_column(String(200))
    consent_ref: Mapped[str | None] = mapped_column(String(36))
    permit_number: Mapped[str | None] = mapped_column(String(64))
    # The hash of the permit envelope sent (SHA-256 of its bytes): the origin's answers must name it.
    permit_hash: Mapped[str | None] = mapped_column(String(64))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    certificate_json: Mapped[str | None] = mapped_column(Text)
    certificate_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(200))
    moved_in_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MigrationTaskRow(Base):
    """At the origin: its part of a migration owned by another node's case (the task is a ``cases_task``)."""

    __tablename__ = "migration_origin_task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_node: Mapped[str] = mapped_column(String(16))
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    task_ref: Mapped[str | None] = mapped_column(String(36))
    matter: Mapped[str | None] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column(String(18))
    person_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    permit_number: Mapped[str | None] = mapped_column(String(64))
    permit_json: Mapped[str | None] = mapped_column(Text)
    # The permit envelope's hash (every answer names it) and the applicant's consent it referenced.
    permit_hash: Mapped[str | None] = mapped_column(String(64))
    consent_ref: Mapped[str | None] = mapped_column(String(36))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MigrationOpenRow(Base):
    """One open migration per person per node: inserted when one opens (a second insert loses on the primary
    key, on both backends), deleted when it ends. ``person_ref`` is the keyed digest, never the number."""

    __tablename__ = "migration_open"

    person_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))  # destination | origin | same-city
    since: Mapped[datetime] = mapped_column(UTCDateTime())
