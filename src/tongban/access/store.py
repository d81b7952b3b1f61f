"""The access capability's queries (the only module here with SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from tongban.access.tables import ApiToken, RecordView, User, WebSession

_INSERT_VIEW = insert(cast(Table, RecordView.__table__))


def user_by_login(session: Session, login: str, *, for_update: bool = False) -> User | None:
    q = select(User).where(User.login == login)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalars().first()


def user_by_id(session: Session, user_id: int, *, for_update: bool = False) -> User | None:
    q = select(User).where(User.id == user_id)
    if for_update:
        q = q.with_for_update()
    return session.execute(q).scalars().first()


def users(
    session: Session,
    *,
    division_prefix: str | None,
    office_code: str | None = None,
    limit: int = 500,
    offset: int = 0,
) -> Sequence[User]:
    q = select(User)
    if office_code is not None:
        q = q.where(User.office_code == office_code)
    if division_prefix:
        q = q.where(User.division_code.startswith(division_prefix, autoescape=True))
    return session.execute(q.order_by(User.id).limit(limit).offset(offset)).scalars().all()


def add_session(session: Session, row: WebSession) -> None:
    session.add(row)
    session.flush()


def session_by_hash(session: Session, token_hash: str) -> tuple[WebSession, User] | None:
    q = (
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash)
    )
    row = session.execute(q).first()
    return (row[0], row[1]) if row is not None else None


def delete_session(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def delete_sessions_of(session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def delete_expired_sessions(session: Session, now: datetime) -> int:
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def touch_session(session: Session, token_hash: str, now: datetime) -> None:
    session.execute(update(WebSession).where(WebSession.token_hash == token_hash).values(last_seen_at=now))


def add_token(session: Session, row: ApiToken) -> None:
    session.add(row)
    session.flush()


def token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    return session.execute(select(ApiToken).where(ApiToken.token_hash == token_hash)).scalars().first()


def tokens(session: Session) -> Sequence[ApiToken]:
    return session.execute(select(ApiToken).order_by(ApiToken.id)).scalars().all()


def add_views(session: Session, rows: list[dict[str, object]]) -> None:
    if rows:
        session.connection().execute(_INSERT_VIEW, rows)


def views(
    session: Session,
    *,
    person_ref: str | None = None,
    division_prefix: str | None = None,
    viewer_office: str | None = None,
    viewer_id: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[RecordView]:
    q = select(RecordView)
    if person_ref is not None:
        q = q.where(RecordView.person_ref == person_ref)
    if division_prefix:
        # A view is within a supervisor's scope when the person or the viewer lies in it.
        q = q.where(
            or_(
                RecordView.person_division.startswith(division_prefix, autoescape=True),
                RecordView.viewer_division.startswith(division_prefix, autoescape=True),
            )
        )
    if viewer_office is not None:
        q = q.where(RecordView.viewer_office == viewer_office)
    if viewer_id is not None:
        q = q.where(RecordView.viewer_id == viewer_id)
    if since is not None:
        q = q.where(RecordView.at >= since)
    q = q.order_by(RecordView.at.desc(), RecordView.id.desc()).limit(limit).offset(offset)
    return session.execute(q).scalars().all()


def count_views(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(RecordView)).scalar_one())


def display_names(session: Session, ids: set[int]) -> dict[int, tuple[str, str, str | None]]:
    """user id → (display name, role, office) for the given ids."""
    if not ids:
        return {}
    q = select(User.id, User.display_name, User.role, User.office_code).where(User.id.in_(ids))
    return {r[0]: (r[1], r[2], r[3]) for r in session.execute(q).all()}
