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
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash, types
from tongban.exchange.service import Incoming, enqueue, exchange_of, register_handler
from tongban.exchange.tables import LocatorAnswerRow, LocatorEntryRow, OutboxRow

LOCATOR_CODE = "000000"
UPDATE_TYPE = "locator.update.v1"
QUERY_TYPE = "locator.query.v1"
ANSWER_TYPE = "locator.answer.v1"
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
    status: Literal["registered", "cancelled"]
    changed_at: datetime


class LocatorQuery(BaseModel):
    digest: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")


class LocatorAnswer(BaseModel):
    digest: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")
    node: str | None
    status: Literal["registered", "cancelled", "unknown"]


def _data_dir(node: NodeContext) -> Path:
    return exchange_of(node).directory.data_dir


# -- the registering nodes -------------------------------------------------------------------------------


def report_registration(
    session: Session, *, node: NodeContext, id_number: str, changed_at: datetime, cancelled: bool = False
) -> uuid.UUID:
    """Tell the locator, in the caller's transaction, that ``node`` now registers (or cancelled) this person."""
    body = LocatorUpdate(
        digest=id_digest(locator_key(_data_dir(node)), id_number),
        status="cancelled" if cancelled else "registered",
        changed_at=changed_at,
    )
    return enqueue(
        session, node=node, recipient=LOCATOR_CODE, type=UPDATE_TYPE, body=body.model_dump(mode="json")
    )


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


def apply_update(session: Session, node: NodeContext, incoming: Incoming) -> None:
    update = incoming.message
    assert isinstance(update, LocatorUpdate)
    entry = session.get(LocatorEntryRow, update.digest)
    if entry is None:
        session.add(
            LocatorEntryRow(
                digest=update.digest,
                node=incoming.envelope.sender,
                status=update.status,
                changed_at=update.changed_at,
                updated_at=node.clock.now(),
            )
        )
    elif update.changed_at > entry.changed_at:
        entry.node, entry.status = incoming.envelope.sender, update.status
        entry.changed_at, entry.updated_at = update.changed_at, node.clock.now()


def apply_query(session: Session, node: NodeContext, incoming: Incoming) -> None:
    query = incoming.message
    assert isinstance(query, LocatorQuery)
    entry = session.get(LocatorEntryRow, query.digest)
    answer = LocatorAnswer(
        digest=query.digest,
        node=entry.node if entry else None,
        status="unknown" if entry is None else entry.status,
    )
    enqueue(
        session,
        node=node,
        recipient=incoming.envelope.sender,
        type=ANSWER_TYPE,
        body=answer.model_dump(),
        in_reply_to=envelope_hash(incoming.envelope.raw),
    )


def apply_answer(session: Session, node: NodeContext, incoming: Incoming) -> None:
    answer = incoming.message
    assert isinstance(answer, LocatorAnswer)
    if incoming.envelope.sender != LOCATOR_CODE or incoming.envelope.in_reply_to is None:
        raise ValueError("a locator answer comes from the locator and names its question")
    session.add(
        LocatorAnswerRow(
            question_hash=incoming.envelope.in_reply_to,
            digest=answer.digest,
            node=answer.node,
            status=answer.status,
            answered_at=incoming.envelope.created_at,
        )
    )


types.register(UPDATE_TYPE, LocatorUpdate)
types.register(QUERY_TYPE, LocatorQuery)
types.register(ANSWER_TYPE, LocatorAnswer)
register_handler(UPDATE_TYPE, apply_update)
register_handler(QUERY_TYPE, apply_query)
register_handler(ANSWER_TYPE, apply_answer)
