"""Notifications to applicants and staff: in the app, and by SMS or e-mail through an adapter.

A notification is a row written in the transaction of the change that causes it, under an idempotency key
(``case:<number>:<what>:<seq>:<recipient>:<channel>``): writing the same key again does nothing, so a retried
use case or sweep never doubles a message. In-app rows are read on the notifications page. SMS and e-mail
rows are delivered afterwards by ``deliver_pending`` through a ``Sender``; delivery is at-least-once (a crash
between sending and marking the row sent re-sends it), and every message carries its key, so the receiving
side (and the default ``FileOutbox``) recognises a re-send. Texts are English msgids rendered with their
parameters in the recipient's language when shown or sent; no personal data goes to the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tongban.access.domain import Role
from tongban.access.tables import User
from tongban.cases.tables import NotificationRow
from tongban.core.clock import ensure_utc
from tongban.core.i18n import N_, gettext, normalize_locale
from tongban.core.node import NodeContext

log = logging.getLogger(__name__)

APP, SMS, EMAIL = "app", "sms", "email"
CHANNELS = (APP, SMS, EMAIL)

# Messages (msgids with their parameters).
CASE_ACCEPTED = N_("Your application {number} was accepted; it will be decided by {due}.")
MATERIALS_REQUESTED = N_(
    "Case {number} needs more materials: {materials}. Please hand them in by {due}; until then the clock is paused."
)
CASE_CLOSED = N_("Case {number} is closed: {reason}.")
CASE_OVERDUE = N_("Case {number} ({matter}) at office {office} passed its deadline of {due}.")


@dataclass(frozen=True)
class Message:
    """One SMS or e-mail as handed to a sender: already in the recipient's language."""

    key: str
    channel: str
    address: str
    locale: str
    text: str
    case_number: str | None


class Sender(Protocol):
    def send(self, message: Message) -> None:
        """Deliver the message (raise on failure). Must tolerate the same key twice."""
        ...


class FileOutbox:
    """The default sender: one JSON line per message in ``<data_dir>/outbox/<channel>.jsonl``.

    Keys already written are skipped, so a re-send after a crash leaves a single line. Each line is
    written with one ``write`` and flushed with ``fsync`` before ``send`` returns.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._seen: dict[str, set[str]] = {}

    def path(self, channel: str) -> Path:
        return self.directory / f"{channel}.jsonl"

    def _keys(self, channel: str) -> set[str]:
        if channel not in self._seen:
            keys: set[str] = set()
            p = self.path(channel)
            if p.exists():
                for line in p.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        keys.add(str(json.loads(line)["key"]))
            self._seen[channel] = keys
        return self._seen[channel]

    def send(self, message: Message) -> None:
        with self._lock:
            keys = self._keys(message.channel)
            if message.key in keys:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            line = json.dumps(
                {
                    "key": message.key,
                    "channel": message.channel,
                    "to": message.address,
                    "locale": message.locale,
                    "text": message.text,
                    "case": message.case_number,
                },
                ensure_ascii=False,
            )
            with self.path(message.channel).open("a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            keys.add(message.key)


SENDER_SERVICE = "cases.sender"


def sender_of(node: NodeContext) -> Sender:
    """The node's sender: one put in ``node.services`` (an SMS gateway), else a file outbox under its data dir."""
    sender = node.services.get(SENDER_SERVICE)
    if sender is None:
        sender = FileOutbox(Path(node.settings.data_dir) / "outbox" / node.code)
        node.services[SENDER_SERVICE] = sender
    return sender


def _insert_ignoring_duplicates(s: Session, values: Mapping[str, Any]) -> bool:
    """Insert one row unless its key exists; True when inserted (ON CONFLICT DO NOTHING on both backends)."""
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(NotificationRow).values(**values).on_conflict_do_nothing(index_elements=["key"])
        )
    else:
        stmt = sqlite.insert(NotificationRow).values(**values).on_conflict_do_nothing(index_elements=["key"])
    # RETURNING tells whether a row went in: the row count of an ORM-enabled insert is -1 on PostgreSQL.
    return s.execute(stmt.returning(NotificationRow.id)).first() is not None


def notify(
    s: Session,
    *,
    key: str,
    channel: str,
    recipient: str,
    locale: str,
    message: str,
    params: Mapping[str, Any],
    now: datetime,
    address: str | None = None,
    case_number: str | None = None,
) -> bool:
    """Record a notification in the caller's transaction; the same key twice records it once."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel}")
    if channel != APP and not address:
        raise ValueError("an SMS or e-mail needs an address")
    return _insert_ignoring_duplicates(
        s,
        {
            "key": key[:160],
            "channel": channel,
            "recipient": recipient,
            "address": address,
            "locale": normalize_locale(locale),
            "message": message,
            "params": dict(params),
            "case_number": case_number,
            "created_at": ensure_utc(now),
            "attempts": 0,
        },
    )


def notify_applicant(
    s: Session,
    *,
    key: str,
    case_number: str,
    phone: str | None,
    email: str | None,
    locale: str,
    message: str,
    params: Mapping[str, Any],
    now: datetime,
) -> int:
    """An applicant's message by SMS and e-mail where they gave an address; returns how many were recorded."""
    count = 0
    for channel, address in ((SMS, phone), (EMAIL, email)):
        if address:
            count += notify(
                s,
                key=f"{key}:{channel}",
                channel=channel,
                recipient=f"applicant:{case_number}",
                locale=locale,
                message=message,
                params=params,
                now=now,
                address=address,
                case_number=case_number,
            )
    return count


def localized(value: Any, locale: str) -> Any:
    """A parameter in ``locale``: ``{"zh_CN": ..., "en": ...}`` picks one, ``{"msgid": ...}`` is translated."""
    if isinstance(value, dict):
        if "msgid" in value:
            return gettext(locale, str(value["msgid"]))
        if locale in value:
            return value[locale]
    return value


def render(row: NotificationRow, locale: str | None = None) -> str:
    """The text of a notification in ``locale`` (default: the recipient's), parameters localised too."""
    loc = normalize_locale(locale or row.locale)
    return gettext(loc, row.message, **{k: localized(v, loc) for k, v in row.params.items()})


# -------------------------------------------------------------------------------------------- in the app
@dataclass(frozen=True)
class InboxItem:
    id: int
    at: datetime
    text: str
    case_number: str | None
    read: bool


def inbox(node: NodeContext, *, user_id: str, locale: str, limit: int = 50) -> list[InboxItem]:
    with node.db.session() as s:
        rows = s.scalars(
            select(NotificationRow)
            .where(NotificationRow.channel == APP, NotificationRow.recipient == f"user:{user_id}")
            .order_by(NotificationRow.id.desc())
            .limit(limit)
        ).all()
        return [
            InboxItem(r.id, r.created_at, render(r, locale), r.case_number, r.read_at is not None)
            for r in rows
        ]


def unread_count(node: NodeContext, *, user_id: str) -> int:
    with node.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(NotificationRow)
                .where(
                    NotificationRow.channel == APP,
                    NotificationRow.recipient == f"user:{user_id}",
                    NotificationRow.read_at.is_(None),
                )
            )
            or 0
        )


def mark_read(node: NodeContext, *, user_id: str, notification_id: int) -> bool:
    """Mark one of the user's own notifications read (another user's is left alone: False)."""
    with node.db.transaction() as s:
        result = s.execute(
            update(NotificationRow)
            .where(
                NotificationRow.id == notification_id,
                NotificationRow.recipient == f"user:{user_id}",
                NotificationRow.read_at.is_(None),
            )
            .values(read_at=node.clock.now())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


# -------------------------------------------------------------------------------------------- delivery
@dataclass
class DeliveryResult:
    sent: int = 0
    failed: int = 0


def deliver_pending(node: NodeContext, *, sender: Sender | None = None, batch: int = 100) -> DeliveryResult:
    """Send the SMS and e-mail rows not yet sent; each is marked sent after its sender returned."""
    sender = sender or sender_of(node)
    result = DeliveryResult()
    with node.db.session() as s:
        rows = s.scalars(
            select(NotificationRow)
            .where(NotificationRow.channel.in_((SMS, EMAIL)), NotificationRow.sent_at.is_(None))
            .order_by(NotificationRow.id)
            .limit(batch)
        ).all()
        messages = [
            (r.id, Message(r.key, r.channel, r.address or "", r.locale, render(r), r.case_number))
            for r in rows
        ]
    for row_id, message in messages:
        try:
            sender.send(message)
        except Exception as exc:  # recorded on the row and retried on the next pass
            log.warning("notification %d via %s failed: %s", row_id, message.channel, type(exc).__name__)
            with node.db.transaction() as s:
                s.execute(
                    update(NotificationRow)
                    .where(NotificationRow.id == row_id)
                    .values(attempts=NotificationRow.attempts + 1, last_error=type(exc).__name__)
                )
            result.failed += 1
            continue
        with node.db.transaction() as s:
            s.execute(
                update(NotificationRow)
                .where(NotificationRow.id == row_id)
                .values(attempts=NotificationRow.attempts + 1, sent_at=node.clock.now(), last_error=None)
            )
        result.sent += 1
    return result


# -------------------------------------------------------------------------------------------- staff
SUPERVISING_ROLES = (Role.COUNTY_SUPERVISOR.value, Role.OFFICE_HEAD.value)


def supervisors_of(s: Session, *, office: str, division: str | None) -> list[tuple[int, str | None]]:
    """Staff who supervise a case accepted at ``office`` in ``division``: the office's head and the county's
    supervisors (ids, with their preferred language when the account has one)."""
    rows = s.execute(
        select(User.id, User.role, User.office_code, User.division_code).where(
            User.role.in_(SUPERVISING_ROLES), User.disabled_at.is_(None)
        )
    ).all()
    found: list[tuple[int, str | None]] = []
    for uid, role, user_office, user_division in rows:
        if (role == Role.OFFICE_HEAD.value and user_office == office) or (
            role == Role.COUNTY_SUPERVISOR.value and division is not None and user_division == division
        ):
            found.append((int(uid), None))
    return found


def notify_supervisors(
    s: Session,
    *,
    key: str,
    office: str,
    division: str | None,
    message: str,
    params: Mapping[str, Any],
    now: datetime,
    case_number: str,
    default_locale: str,
) -> int:
    count = 0
    for uid, locale in supervisors_of(s, office=office, division=division):
        count += notify(
            s,
            key=f"{key}:user:{uid}",
            channel=APP,
            recipient=f"user:{uid}",
            locale=locale or default_locale,
            message=message,
            params=params,
            now=now,
            case_number=case_number,
        )
    return count


def pending_count(node: NodeContext, channels: Iterable[str] = (SMS, EMAIL)) -> int:
    with node.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(NotificationRow)
                .where(NotificationRow.channel.in_(tuple(channels)), NotificationRow.sent_at.is_(None))
            )
            or 0
        )
