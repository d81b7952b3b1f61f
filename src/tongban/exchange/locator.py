"""The national locator: where is a person currently registered?

Routing is by the current hukou division, never by the ID number's prefix. The locator (a node of its own in
the directory, ``LOCATOR_CODE``) maps a keyed digest of the ID number (HMAC-SHA256 with a national key shared by
the nodes, never the number itself, never a name) to the node that currently registers the person. Nodes send
``locator.update.v1`` through the exchange in the transaction of every registration change; the locator keeps
the newest change per digest (so late or reordered updates do not win). Questions (``locator.query.v1``) are
envelopes like any other, so only signed queries from nodes of the directory are answered; the answer
(``locator.answer.v1``) carries the hash of the question and lands in the asker's ``exchange_locator_answer``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash, types
from tongban.exchange.service import Incoming, enqueue, exchange_of, register_handler
from tongban.exchange.tables import LocatorAnswerRow, LocatorEntryRow, OutboxRow
from tongban.registry.hooks import REGISTRATION_LISTENER, RegistrationChange

LOCATOR_CODE = "000000"
LOCATOR_NAME = "全国人口定位"
UPDATE_TYPE = "locator.update.v1"
QUERY_TYPE = "locator.query.v1"
ANSWER_TYPE = "locator.answer.v1"
UPDATES_TYPE = "locator.updates.v1"  # many updates in one envelope (bulk imports)
UPDATES_PER_ENVELOPE = 1000  # about 130 bytes each: well under the envelope size limit
KEY_FILE = Path("keys") / "national" / "locator-hmac.key"


def create_locator_key(data_dir: Path) -> None:
    """Create the national HMAC key (mode 0600) if there is none."""
    path = data_dir / KEY_FILE
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))


def locator_key(data_dir: Path) -> bytes:
    return (data_dir / KEY_FILE).read_bytes()


def id_digest(key: bytes, id_number: str) -> str:
    """The keyed digest of an ID number (upper-cased ``X``; no other normalisation)."""
    return hmac.new(key, id_number.strip().upper().encode("ascii"), hashlib.sha256).hexdigest()


class LocatorUpdate(BaseModel):
    digest: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")
    status: Literal["registered", "cancelled", "in_transit"]
    changed_at: datetime
    # In transit: the owning case (the destination's case number); nothing else about the person.
    case_ref: str | None = Field(default=None, max_length=64)
    # A "cancelled" that only confirms a migration's move-out: the person is registered elsewhere (or about to
    # be); it never hides that registration, whatever order the two reports arrive in.
    moved_out: bool = False


class LocatorUpdates(BaseModel):
    updates: list[LocatorUpdate] = Field(min_length=1, max_length=UPDATES_PER_ENVELOPE)


class LocatorQuery(BaseModel):
    digest: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class LocatorAnswer(BaseModel):
    digest: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")
    node: str | None
    status: Literal["registered", "cancelled", "in_transit", "unknown"]
    case_ref: str | None = Field(default=None, max_length=64)


def _status(change: RegistrationChange) -> str:
    if change.in_transit:
        return "in_transit"
    return "cancelled" if change.cancelled else "registered"


def _data_dir(node: NodeContext) -> Path:
    return exchange_of(node).directory.data_dir


# -- the registering nodes -------------------------------------------------------------------------------


def report_registration(
    session: Session,
    *,
    node: NodeContext,
    id_number: str,
    changed_at: datetime,
    cancelled: bool = False,
    in_transit_case: str | None = None,
    moved_out: bool = False,
) -> uuid.UUID:
    """Tell the locator, in the caller's transaction, that ``node`` now registers (or cancelled) this person,
    or moved them out in a migration owned by case ``in_transit_case``."""
    body = LocatorUpdate(
        digest=id_digest(locator_key(_data_dir(node)), id_number),
        status="in_transit" if in_transit_case else ("cancelled" if cancelled else "registered"),
        changed_at=changed_at,
        case_ref=in_transit_case,
        moved_out=moved_out,
    )
    return enqueue(
        session, node=node, recipient=LOCATOR_CODE, type=UPDATE_TYPE, body=body.model_dump(mode="json")
    )


def report_registrations(
    session: Session, *, node: NodeContext, changes: Sequence[RegistrationChange]
) -> None:
    """The registry's listener: report ``changes`` in the caller's transaction; one change as one
    ``locator.update.v1``, many (a bulk import) as ``locator.updates.v1`` envelopes of up to
    ``UPDATES_PER_ENVELOPE`` each, so 20,000 imported people cost 20 signatures, not 20,000."""
    if len(changes) == 1:
        c = changes[0]
        report_registration(
            session,
            node=node,
            id_number=c.id_number,
            changed_at=c.changed_at,
            cancelled=c.cancelled,
            in_transit_case=(c.case_ref or "?") if c.in_transit else None,
            moved_out=c.moved_out,
        )
        return
    key = locator_key(_data_dir(node))
    for start in range(0, len(changes), UPDATES_PER_ENVELOPE):
        chunk = changes[start : start + UPDATES_PER_ENVELOPE]
        body = LocatorUpdates(
            updates=[
                LocatorUpdate(
                    digest=id_digest(key, c.id_number),
                    status=_status(c),
                    changed_at=c.changed_at,
                    case_ref=c.case_ref if c.in_transit else None,
                    moved_out=c.moved_out,
                )
                for c in chunk
            ]
        )
        enqueue(
            session, node=node, recipient=LOCATOR_CODE, type=UPDATES_TYPE, body=body.model_dump(mode="json")
        )


def install_registration_listener(node: NodeContext) -> None:
    """Have the registry report every registration change of ``node`` to the locator (nodes with an exchange)."""

    def listener(session: Session, changes: Sequence[RegistrationChange]) -> None:
        # A directory without the locator (a nation that runs none yet): nowhere to report, and no reason
        # to refuse the registration change itself.
        if exchange_of(node).directory.current.node(LOCATOR_CODE) is None:
            return
        report_registrations(session, node=node, changes=changes)

    node.services[REGISTRATION_LISTENER] = listener


def ask_locator(session: Session, *, node: NodeContext, id_number: str) -> uuid.UUID:
    """Ask where a person is registered; the answer arrives in ``exchange_locator_answer``."""
    body = LocatorQuery(digest=id_digest(locator_key(_data_dir(node)), id_number))
    return enqueue(session, node=node, recipient=LOCATOR_CODE, type=QUERY_TYPE, body=body.model_dump())


def answer_for(session: Session, question_id: uuid.UUID) -> LocatorAnswerRow | None:
    """The locator's answer to the question ``question_id`` sent by this node, once it has arrived."""
    question = session.get(OutboxRow, str(question_id))
    if question is None:
        return None
    return session.scalars(
        select(LocatorAnswerRow).where(LocatorAnswerRow.question_hash == envelope_hash(question.raw))
    ).one_or_none()


# -- the locator node ------------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _apply_moved_out(session: Session, node: NodeContext, sender: str, update: LocatorUpdate) -> None:
    """The origin confirms a move-out: it no longer registers the person, another node does (or will). The
    entry's time is not advanced, so the destination's registration wins even when it arrives later; a person
    in transit stays in transit until that registration arrives."""
    entry = session.get(LocatorEntryRow, update.digest)
    if entry is None:
        session.add(
            LocatorEntryRow(
                digest=update.digest,
                node=sender,
                status="cancelled",
                case_ref=None,
                changed_at=_EPOCH,
                updated_at=node.clock.now(),
            )
        )
        session.flush()
    elif entry.node == sender and entry.status == "registered" and update.changed_at > entry.changed_at:
        entry.status, entry.case_ref, entry.updated_at = "cancelled", None, node.clock.now()


def _apply_one(session: Session, node: NodeContext, sender: str, update: LocatorUpdate) -> None:
    if update.moved_out:
        _apply_moved_out(session, node, sender, update)
        return
    entry = session.get(LocatorEntryRow, update.digest)
    if entry is None:
        session.add(
            LocatorEntryRow(
                digest=update.digest,
                node=sender,
                status=update.status,
                case_ref=update.case_ref,
                changed_at=update.changed_at,
                updated_at=node.clock.now(),
            )
        )
        session.flush()  # a later update of the same digest in this batch finds it
    elif update.changed_at > entry.changed_at:
        if update.status == "cancelled" and entry.status == "registered" and entry.node != sender:
            # The origin confirming a move-out after the destination registered the person: the person
            # is registered elsewhere, which a cancellation by another node does not change.
            return
        entry.node, entry.status, entry.case_ref = sender, update.status, update.case_ref
        entry.changed_at, entry.updated_at = update.changed_at, node.clock.now()


def seed_locator(
    session: Session, *, key: bytes, registered: Iterable[tuple[str, str, datetime]], now: datetime
) -> int:
    """Fill an empty locator with people registered before any node reported: ``(id number, node, since)``.

    For a nation loaded without an exchange (the synthetic nation's build): later updates, newer than
    ``since``, win as usual. Digests the locator already holds are left alone. Returns how many were added.
    """
    newest: dict[str, tuple[str, datetime]] = {}
    for id_number, code, since in registered:
        digest = id_digest(key, id_number)
        if digest not in newest or since > newest[digest][1]:
            newest[digest] = (code, since)
    known = set(session.scalars(select(LocatorEntryRow.digest)))
    rows = [
        {"digest": d, "node": code, "status": "registered", "changed_at": since, "updated_at": now}
        for d, (code, since) in newest.items()
        if d not in known
    ]
    for first in range(0, len(rows), 5000):
        session.execute(insert(LocatorEntryRow), rows[first : first + 5000])
    return len(rows)


def apply_update(session: Session, node: NodeContext, incoming: Incoming) -> None:
    update = incoming.message
    assert isinstance(update, LocatorUpdate)
    _apply_one(session, node, incoming.envelope.sender, update)


def apply_updates(session: Session, node: NodeContext, incoming: Incoming) -> None:
    batch = incoming.message
    assert isinstance(batch, LocatorUpdates)
    for update in batch.updates:
        _apply_one(session, node, incoming.envelope.sender, update)


def apply_query(session: Session, node: NodeContext, incoming: Incoming) -> None:
    query = incoming.message
    assert isinstance(query, LocatorQuery)
    entry = session.get(LocatorEntryRow, query.digest)
    answer = LocatorAnswer(
        digest=query.digest,
        node=entry.node if entry else None,
        status="unknown" if entry is None else entry.status,
        case_ref=entry.case_ref if entry is not None and entry.status == "in_transit" else None,
    )
    enqueue(
        session,
        node=node,
        recipient=incoming.envelope.sender,
        type=ANSWER_TYPE,
        body=answer.model_dump(),
        in_reply_to=envelope_hash(incoming.envelope.raw),
    )


AnswerListener = Callable[[Session, NodeContext, LocatorAnswerRow], None]
_answer_listeners: list[AnswerListener] = []


def on_answer(listener: AnswerListener) -> None:
    """Call ``listener(session, node, answer)`` for every locator answer this node applies, in the apply
    transaction, after the answer is stored (a capability routing a case on it, e.g. CERT). A listener
    ignores answers to questions it did not ask."""
    if listener not in _answer_listeners:
        _answer_listeners.append(listener)


def apply_answer(session: Session, node: NodeContext, incoming: Incoming) -> None:
    answer = incoming.message
    assert isinstance(answer, LocatorAnswer)
    if incoming.envelope.sender != LOCATOR_CODE or incoming.envelope.in_reply_to is None:
        raise ValueError("a locator answer comes from the locator and names its question")
    row = LocatorAnswerRow(
        question_hash=incoming.envelope.in_reply_to,
        digest=answer.digest,
        node=answer.node,
        status=answer.status,
        case_ref=answer.case_ref,
        answered_at=incoming.envelope.created_at,
    )
    session.add(row)
    session.flush()
    for listener in _answer_listeners:
        listener(session, node, row)


types.register(UPDATE_TYPE, LocatorUpdate)
types.register(QUERY_TYPE, LocatorQuery)
types.register(ANSWER_TYPE, LocatorAnswer)
types.register(UPDATES_TYPE, LocatorUpdates)
register_handler(UPDATE_TYPE, apply_update)
register_handler(UPDATES_TYPE, apply_updates)
register_handler(QUERY_TYPE, apply_query)
register_handler(ANSWER_TYPE, apply_answer)
