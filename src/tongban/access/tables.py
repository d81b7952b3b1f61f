"""Access tables: users, server-side sessions, API tokens, and the record of views of persons' records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime


class User(Base):
    """A staff member, citizen or enterprise user of this node.

    ``login`` is the staff user name; for citizens it is a keyed digest of their ID number (``cid:<hmac>``)
    so that the users table is not a second list of ID numbers. Passwords are argon2id hashes.
    """

    __tablename__ = "access_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    display_name: Mapped[str] = mapped_column(String(128), nullable=False)
    division_code: Mapped[str | None] = mapped_column(String(6), nullable=True, index=True)
    office_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    person_ref: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    totp_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)  # AES-GCM sealed
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebSession(Base):
    """A server-side session. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "access_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("access_users.id"), nullable=False, index=True)
    # "active", or "totp" (password accepted, second factor pending), or "enrol" (second factor to enrol).
    stage: Mapped[str] = mapped_column(String(8), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ApiToken(Base):
    """A scoped token for another system: the actions it may do, within a division prefix."""

    __tablename__ = "access_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # Space-separated action patterns (``registry.person.read cases.*.read``).
    actions: Mapped[str] = mapped_column(Text, nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    division_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RecordView(Base):
    """One view of a person's record: who, when, which person (opaque registry id), and why.

    The person is named by the registry's opaque id, never by ID number or name: supervisors of other
    counties review these rows, and the log must not become a second, wider-readable copy of the register.
    The viewer's division and the person's division are kept so each supervisor sees their own scope.
    """

    __tablename__ = "access_record_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    viewer_id: Mapped[str] = mapped_column(String(64), nullable=False)
    viewer_role: Mapped[str] = mapped_column(String(32), nullable=False)
    viewer_division: Mapped[str | None] = mapped_column(String(6), nullable=True)
    viewer_office: Mapped[str | None] = mapped_column(String(32), nullable=True)
    person_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    person_division: Mapped[str | None] = mapped_column(String(6), nullable=True)
    # "case" (with the case reference), "search" (with a search id), "own" (a citizen's own record),
    # "paper" (with the paper number: a read or download of an issued paper about the person).
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    reason_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_access_record_views_person_at", "person_ref", "at"),
        Index("ix_access_record_views_person_division_at", "person_division", "at"),
        Index("ix_access_record_views_viewer_division_at", "viewer_division", "at"),
    )
