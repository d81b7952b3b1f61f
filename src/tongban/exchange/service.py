"""Use cases of a node's exchange: enqueue, receive, apply, receipts, relay, operator retry, status.

A node's exchange is a ``NodeExchange`` kept in ``node.services["exchange"]``. Sending: ``enqueue`` writes a
signed envelope into the outbox in the caller's transaction; the relay publishes it and re-sends it with backoff
until a receipt closes it. Receiving: ``receive`` verifies and inserts into the inbox (or records a rejection);
the transport is acknowledged after that commit; ``apply_due`` applies inbox rows, each in one transaction with
its effects, through the handler registered for its type.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.exchange import control, store
from tongban.exchange.directory import (
    ALG_ED25519,
    Directory,
    DirectoryHolder,
    SignatureRefused,
    current_signing_key,
    sign_blob,
    verify_ed25519,
    verify_signature,
)
from tongban.exchange.domain import (
    ALG_ED25519_MERKLE,
    RECEIPT_TYPE,
    Envelope,
    NotYet,
    ReceiptBody,
    Rejected,
    Rejection,
    TypeRegistry,
    build,
    check_fresh,
    decrypt_body,
    parse,
    sign_batch,
    types,
    validate_body,
)
from tongban.exchange.failpoints import crashpoint
from tongban.exchange.keys import KeyProvider
from tongban.exchange.settings import ExchangeSettings
from tongban.exchange.tables import InboxRow, OutboxRow, RejectionRow

log = logging.getLogger("tongban.exchange")


@dataclass(frozen=True)
class Incoming:
    """What a handler gets: the verified envelope, its clear body and the body parsed by its type's schema."""

    envelope: Envelope
    body: dict[str, Any]
    message: BaseModel


Handler = Callable[[Session, NodeContext, Incoming], None]
GroupHandler = Callable[[Session, NodeContext, list[Incoming]], None]
_handlers: dict[str, Handler] = {}
_group_handlers: dict[str, GroupHandler] = {}


def register_handler(type: str, fn: Handler, *, handlers: dict[str, Handler] | None = None) -> None:
    """Apply messages of ``type`` with ``fn(session, node, incoming)`` (inside the apply transaction)."""
    target = _handlers if handlers is None else handlers
    target[type] = fn


def register_group_handler(
    type: str, fn: GroupHandler, *, handlers: dict[str, GroupHandler] | None = None
) -> None:
    """Optionally, also apply consecutive messages of ``type`` together with ``fn(session, node, incomings)``.

    Used only on the group path (all messages of a group in one savepoint, all or nothing); it must have the
    same effects as the single handler (registered with ``register_handler``, always required) applied to each
    message in order, which is what is used when a group is applied one message at a time after a failure.
    """
    target = _group_handlers if handlers is None else handlers
    target[type] = fn


class ParsedCache:
    """Envelopes parsed, decrypted and validated on receipt, kept for the worker so it does not redo that.

    Keyed by the exact stored bytes (a hit is the same bytes, so the same envelope); bounded, oldest dropped
    first; a miss (another process received it, a restart, an eviction) parses the stored bytes again. Only in
    memory, never stored: the inbox keeps the bytes as received.
    """

    def __init__(self, limit: int = 20000) -> None:
        self.limit = limit
        self._items: dict[bytes, Incoming] = {}
        self._lock = threading.Lock()

    def put_many(self, items: list[Incoming]) -> None:
        with self._lock:
            for incoming in items:
                self._items[incoming.envelope.raw] = incoming
            excess = len(self._items) - self.limit
            if excess > 0:
                for key in list(itertools.islice(self._items, excess)):
                    del self._items[key]

    def pop(self, raw: bytes) -> Incoming | None:
        with self._lock:
            return self._items.pop(raw, None)

    def __len__(self) -> int:
        return len(self._items)


class VerifiedRoots:
    """Batch roots whose Ed25519 signature this node has verified, so the other envelopes of the batch cost a
    few hashes each instead of a signature verification.

    Keyed by (public key, signed root, signature): a hit is exactly what was verified. Only the cryptographic
    check is cached; the directory's checks (sender, key, purpose, validity at the envelope's creation, a
    revocation) are made for every envelope. Bounded, oldest dropped first.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._seen: dict[tuple[bytes, bytes, bytes], None] = {}
        self._lock = threading.Lock()
        self.verified = 0  # Ed25519 verifications made (the others were hits)

    def check(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        key = (public_key, message, signature)
        if key in self._seen:
            return True
        if not verify_ed25519(public_key, message, signature):
            return False
        with self._lock:
            self.verified += 1
            self._seen[key] = None
            if len(self._seen) > self.limit:
                del self._seen[next(iter(self._seen))]
        return True


class Publisher(Protocol):
    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None: ...


@dataclass
class NodeExchange:
    node: NodeContext
    keys: KeyProvider
    directory: DirectoryHolder
    settings: ExchangeSettings = field(default_factory=ExchangeSettings)
    types: TypeRegistry = field(default_factory=lambda: types)
    handlers: dict[str, Handler] = field(default_factory=lambda: _handlers)
    group_handlers: dict[str, GroupHandler] = field(default_factory=lambda: _group_handlers)
    parsed: ParsedCache = field(default_factory=ParsedCache)
    roots: VerifiedRoots = field(default_factory=VerifiedRoots)
    # Set by the receiver when something arrives, so the worker applies it without waiting for its poll.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Steps of the pump known to have work (see ``hint``), so a busy pump does not ask the database first.
    hints: set[str] = field(default_factory=set)

    def hint(self, *steps: str) -> None:
        """Tell the pump that ``steps`` (``apply``, ``receipts``, ``relay``) have work. Only a shortcut: the
        pump still asks the database (``due_work``) at every poll interval, which finds all work, also work
        committed by other processes."""
        self.hints.update(steps)

    def take_hints(self) -> set[str]:
        taken, self.hints = self.hints, set()
        return taken

    @property
    def code(self) -> str:
        return self.node.code

    def now(self) -> datetime:
        return self.node.clock.now()


def exchange_of(node: NodeContext) -> NodeExchange:
    ex = node.services.get("exchange")
    if not isinstance(ex, NodeExchange):
        raise RuntimeError(f"node {node.code} has no exchange attached")
    return ex


# -- sending ---------------------------------------------------------------------------------------------


def build_for(
    ex: NodeExchange,
    *,
    recipient: str,
    type: str,
    body: dict[str, Any],
    case_ref: str | None = None,
    consent_ref: str | None = None,
    in_reply_to: str | None = None,
    created_at: datetime | None = None,
) -> tuple[uuid.UUID, bytes, datetime]:
    """An envelope's payload from this node, encrypted where the type carries personal data, not yet signed;
    returns its id, its payload line and its creation time."""
    mt = ex.types.get(type)
    validate_body(mt, body)
    now = created_at or ex.now()
    directory = ex.directory.current
    current_signing_key(directory, ex.keys, ex.code, "envelopes", now)  # refuse early: no key to sign with
    peer = directory.node(recipient)
    if peer is None:
        raise LookupError(f"node {recipient} is not in the directory")
    encrypt_to = None
    if mt.personal:
        enc_key = peer.current_key("encryption", now)
        if enc_key is None:
            raise LookupError(f"node {recipient} has no usable encryption key")
        encrypt_to = (enc_key.key_id, enc_key.public_key)
    eid, payload = build(
        sender=ex.code,
        recipient=recipient,
        type=type,
        body=body,
        created_at=now,
        case_ref=case_ref,
        consent_ref=consent_ref,
        in_reply_to=in_reply_to,
        encrypt_to=encrypt_to,
    )
    return eid, payload, now


def seal_for(
    ex: NodeExchange,
    *,
    recipient: str,
    type: str,
    body: dict[str, Any],
    case_ref: str | None = None,
    consent_ref: str | None = None,
    in_reply_to: str | None = None,
    created_at: datetime | None = None,
) -> tuple[uuid.UUID, bytes]:
    """Sign (and encrypt where the type carries personal data) an envelope from this node, on its own."""
    eid, payload, now = build_for(
        ex,
        recipient=recipient,
        type=type,
        body=body,
        case_ref=case_ref,
        consent_ref=consent_ref,
        in_reply_to=in_reply_to,
        created_at=created_at,
    )
    key_id, signing_key = current_signing_key(ex.directory.current, ex.keys, ex.code, "envelopes", now)
    return eid, sign_blob(payload, signing_key, key_id)


def enqueue(
    session: Session,
    *,
    node: NodeContext,
    recipient: str,
    type: str,
    body: dict[str, Any],
    case_ref: str | None = None,
    consent_ref: str | None = None,
    in_reply_to: str | None = None,
) -> uuid.UUID:
    """Write an envelope into the outbox, in the caller's transaction (sent after it commits).

    The outbox keeps the payload line; the relay signs it, with the others of its batch, before its first
    publication and keeps the signed bytes, so every re-send is byte-identical.
    """
    ex = exchange_of(node)
    eid, payload, now = build_for(
        ex,
        recipient=recipient,
        type=type,
        body=body,
        case_ref=case_ref,
        consent_ref=consent_ref,
        in_reply_to=in_reply_to,
    )
    session.add(
        OutboxRow(
            id=str(eid),
            recipient=recipient,
            type=type,
            case_ref=case_ref,
            raw=payload,
            state=store.OUT_QUEUED,
            attempts=0,
            next_attempt_at=now,
            created_at=now,  # the envelope's own creation time: the relay signs with the key valid then
        )
    )
    ex.hint("relay")
    return eid


NO_SIGNING_KEY = "no signing key usable at its creation"


def sign_outbox(ex: NodeExchange, rows: list[store.DueSend]) -> list[store.DueSend]:
    """Sign the rows not signed yet, in batches of ``sign_batch`` per signing key (one Ed25519 signature per
    batch), and keep the signed bytes before anything is published; returns the rows as they are to be sent.

    A row signed meanwhile by another relay of this node keeps that relay's bytes (read back), so a message
    never travels with two different signatures.
    """
    unsigned = [r for r in rows if b"\n" not in r.raw]
    if not unsigned:
        return rows
    directory = ex.directory.current
    by_key: dict[str, list[store.DueSend]] = defaultdict(list)
    keys: dict[str, Any] = {}
    unsignable: list[str] = []
    for row in unsigned:
        try:
            key_id, private = current_signing_key(directory, ex.keys, ex.code, "envelopes", row.created_at)
        except LookupError:
            # No key of ours was usable at its creation time any more (revoked for compromise since): no
            # recipient would accept it. Parked for an operator, so it does not hold up the others.
            unsignable.append(row.id)
            continue
        by_key[key_id].append(row)
        keys[key_id] = private
    signed: dict[str, bytes] = {}
    size = max(1, ex.settings.sign_batch)
    for key_id, group in by_key.items():
        for first in range(0, len(group), size):
            chunk = group[first : first + size]
            for row, raw in zip(chunk, sign_batch([r.raw for r in chunk], keys[key_id], key_id), strict=True):
                signed[row.id] = raw
    fresh = [r for r in unsigned if r.id in signed]
    with ex.node.db.transaction() as s:
        kept = store.keep_signed(s, [(r.id, r.raw, signed[r.id]) for r in fresh])
        if kept != len(fresh):  # another relay signed some first (or uncounted): send what is stored
            stored = store.outbox_raws(s, [r.id for r in fresh])
            signed = {rid: raw for rid, raw in stored.items() if b"\n" in raw}
        if unsignable:
            store.park_outbox(s, unsignable, reason=NO_SIGNING_KEY)
            log.warning("parked %d outbox messages: no signing key usable at their creation", len(unsignable))
    out = []
    for r in rows:
        raw = signed.get(r.id, r.raw)
        if b"\n" in raw:  # unsigned ones are left out: parked, or signed by another relay and not re-read
            out.append(replace(r, raw=raw))
    return out


# -- receiving -------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # new: in the inbox
    DUPLICATE = "duplicate"  # a byte-identical re-send: receipt again, nothing applied
    RECEIPT = "receipt"  # a receipt applied to the outbox
    REJECTED = "rejected"


def _verify(ex: NodeExchange, env: Envelope) -> None:
    if env.alg not in (ALG_ED25519, ALG_ED25519_MERKLE):
        raise Rejected(Rejection.BAD_SIGNATURE, f"unsupported algorithm {env.alg[:40]}")
    check = ex.roots.check if env.batch_signed else None

    def verify(directory: Directory) -> None:
        verify_signature(
            directory,
            env.sender,
            env.key_id,
            "envelopes",
            env.signed,
            env.signature,
            env.created_at,
            check=check,
        )

    try:
        verify(ex.directory.current)
    except SignatureRefused as refused:
        if refused.reason != "unknown-key":
            raise Rejected(Rejection(refused.reason), refused.detail) from None
        # An unknown key of a known sender: refresh the directory once, then decide.
        try:
            verify(ex.directory.refresh())
        except SignatureRefused as again:
            raise Rejected(Rejection(again.reason), again.detail) from None
        except Exception:
            raise Rejected(Rejection.UNKNOWN_KEY, env.key_id) from None


def _rejection_row(
    ex: NodeExchange, raw: bytes, env: Envelope | None, rejected: Rejected, *, verified: bool
) -> RejectionRow:
    log.info(
        "rejected envelope from %s: %s", env.sender if env else "?", rejected.reason
    )  # no body, no detail
    return RejectionRow(
        at=ex.now(),
        sender=env.sender[:16] if env else None,
        envelope_id=str(env.id) if env else None,
        type=env.type[:120] if env else None,
        reason=str(rejected.reason),
        detail=rejected.detail[:500] or None,
        retryable=rejected.reason.retryable,
        verified=verified,
        # Answer only senders whose signature verified (or whose key we must learn): never a forger.
        # A forgery is not answered: the id belongs to the message already accepted.
        # Receipts are not receipted, not even negatively.
        receipt_due=(verified or rejected.reason is Rejection.UNKNOWN_KEY)
        and rejected.reason is not Rejection.FORGERY
        and (env is None or env.type != RECEIPT_TYPE),
        raw_hash=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
    )


def _fresh(ex: NodeExchange, env: Envelope) -> None:
    check_fresh(
        env.created_at,
        ex.now(),
        window=timedelta(seconds=ex.settings.accept_window_s),
        future_skew=timedelta(seconds=ex.settings.future_skew_s),
    )


def _admit(ex: NodeExchange, env: Envelope) -> Incoming:
    """The checks of a message not seen before: freshness, type version, encryption, body schema."""
    _fresh(ex, env)
    mt = ex.types.accepted(env.type)
    if mt is None:
        raise Rejected(Rejection.UNSUPPORTED_TYPE, env.type[:120])
    if mt.personal and env.enc is None:
        raise Rejected(Rejection.INVALID_BODY, "personal data sent in clear")
    body = decrypt_body(env, ex.keys.encryption_key)
    return Incoming(envelope=env, body=body, message=validate_body(mt, body))


def receive(ex: NodeExchange, raw: bytes) -> Outcome:
    """Verify one envelope and keep it (inbox) or record why not. Idempotent: safe to call again."""
    return receive_batch(ex, [raw])[0]


def receive_batch(ex: NodeExchange, raws: list[bytes]) -> list[Outcome]:
    """Verify envelopes and keep them (inbox) or record why not, in one transaction for the batch.

    A byte-identical re-send (also within the batch) is a duplicate: its receipt is owed again and nothing is
    inserted; the same id with other bytes is a forgery. Idempotent: a redelivered batch changes nothing more.
    """
    outcomes: list[Outcome | None] = [None] * len(raws)
    rejections: list[RejectionRow] = []
    candidates: list[tuple[int, Envelope, str]] = []
    admitted: list[Incoming] = []
    for i, raw in enumerate(raws):
        env: Envelope | None = None
        verified = False
        try:
            if len(raw) > ex.settings.max_envelope_bytes:
                raise Rejected(Rejection.OVERSIZE, str(len(raw)))
            env = parse(raw)
            _verify(ex, env)
            verified = True
            if env.recipient != ex.code:
                raise Rejected(Rejection.WRONG_RECIPIENT, env.recipient)
            if env.type == RECEIPT_TYPE:
                _fresh(ex, env)
                if env.enc is not None:
                    raise Rejected(Rejection.INVALID_BODY, "receipts travel in clear")
                receipt = validate_body(ex.types.get(RECEIPT_TYPE), env.body or {})
                assert isinstance(receipt, ReceiptBody)
                _apply_receipt(ex, env, receipt)
                outcomes[i] = Outcome.RECEIPT
                continue
            candidates.append((i, env, hashlib.sha256(raw).hexdigest()))
        except Rejected as rejected:
            rejections.append(_rejection_row(ex, raw, env, rejected, verified=verified))
            outcomes[i] = Outcome.REJECTED
        except SQLAlchemyError:
            raise  # the database, not the message: let the broker redeliver
        except Exception as exc:  # never let one message make a whole batch redeliver forever
            odd = Rejected(Rejection.MALFORMED, type(exc).__name__)
            rejections.append(_rejection_row(ex, raw, env, odd, verified=False))
            outcomes[i] = Outcome.REJECTED
    try:
        with ex.node.db.transaction() as s:
            known = store.inbox_hashes(s, [(env.sender, str(env.id)) for _, env, _ in candidates])
            again: list[tuple[str, str]] = []
            inserts: list[dict[str, Any]] = []
            for i, env, raw_hash in candidates:
                key = (env.sender, str(env.id))
                try:
                    if key in known:
                        if known[key] != raw_hash:
                            raise Rejected(Rejection.FORGERY, "same id, different bytes")
                        again.append(key)  # answer with the stored receipt
                        outcomes[i] = Outcome.DUPLICATE
                        continue
                    admitted.append(_admit(ex, env))
                except Rejected as rejected:
                    rejections.append(_rejection_row(ex, raws[i], env, rejected, verified=True))
                    outcomes[i] = Outcome.REJECTED
                    continue
                now = ex.now()
                inserts.append(
                    {
                        "sender": env.sender,
                        "envelope_id": str(env.id),
                        "type": env.type,
                        "raw": raws[i],
                        "raw_hash": raw_hash,
                        "state": store.IN_RECEIVED,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "received_at": now,
                        "receipt_due": True,
                    }
                )
                known[key] = raw_hash
                outcomes[i] = Outcome.ACCEPTED
            # One multi-row insert for the batch (Core, no ORM unit of work per row).
            store.insert_inbox(s, inserts)
            store.owe_receipts(s, again)
            s.add_all(rejections)
    except IntegrityError:
        # Another receiver of this node inserted some of these meanwhile: decide one by one.
        if len(raws) == 1:
            raise
        return [receive(ex, raw) for raw in raws]
    # Committed: the worker may use what was parsed, decrypted and validated here.
    ex.parsed.put_many(admitted)
    if inserts:
        ex.hint("apply", "receipts")
    elif again or any(r.receipt_due for r in rejections):
        ex.hint("receipts")
    return [o if o is not None else Outcome.REJECTED for o in outcomes]


def _apply_receipt(ex: NodeExchange, env: Envelope, body: ReceiptBody) -> None:
    """Close the outbox rows a (cumulative) receipt acknowledges, in a few set-based statements."""
    accepted: list[str] = []
    retry: dict[str, list[str]] = defaultdict(list)
    refused: dict[str, list[str]] = defaultdict(list)
    for item in body.items:
        if item.status == "accepted":
            accepted.append(item.id)
        elif item.retryable:
            retry[item.reason or ""].append(item.id)  # keep re-sending: the recipient will learn our key
        else:
            refused[item.reason or ""].append(item.id)
    with ex.node.db.transaction() as s:
        # Only rows sent to the receipt's signer, and only open ones (a node acknowledges what it received).
        store.close_outbox(s, env.sender, accepted, state=store.OUT_ACKED, reason=None, at=ex.now())
        for reason, ids in refused.items():
            store.close_outbox(
                s, env.sender, ids, state=store.OUT_REJECTED, reason=reason or None, at=ex.now()
            )
        for reason, ids in retry.items():
            store.note_outbox_reason(s, env.sender, ids, reason or None)


# -- applying --------------------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def apply_due(ex: NodeExchange, *, limit: int | None = None) -> int:
    """Apply due inbox rows through their handlers. Returns how many were applied.

    Each message is applied with its effects atomically: its handler's writes and its ``applied`` state are in
    the same transaction, so both commit or neither. Several messages share one commit (group commit,
    ``apply_group``), first all in one savepoint; if one of them fails, each in a savepoint of its own, so a
    failing message is retried later or parked, never blocking others.
    """
    now = ex.now()
    with ex.node.db.session() as s:
        due = store.due_inbox_messages(s, now, limit or ex.settings.apply_batch)
    applied = 0
    group = max(1, ex.settings.apply_group)
    for first in range(0, len(due), group):
        chunk = due[first : first + group]
        with ex.node.db.transaction() as s:
            ok = _apply_group(ex, s, chunk) if len(chunk) > 1 else None
            if ok is None:  # one of them failed, must wait or was applied meanwhile: one savepoint each
                seqs = [row.seq for row in chunk]
                ok = [row.seq for row in store.inbox_rows(s, seqs) if _apply_one(ex, s, row)]
                # The applied state of the group in one statement, in the same transaction as the effects.
                store.mark_applied(s, ok, ex.now())
        done = len(ok)
        for _ in range(done):
            crashpoint(ex.settings, "apply.after_commit")  # counted per message applied
        applied += done
    return applied


def _incoming(ex: NodeExchange, type: str, raw: bytes) -> tuple[Handler, Incoming]:
    handler = ex.handlers.get(type)
    if handler is None:
        raise LookupError(f"no handler for {type}")
    incoming = ex.parsed.pop(raw)
    if incoming is None:  # not received by this process (or evicted): parse the stored bytes again
        env = parse(raw)
        body = decrypt_body(env, ex.keys.encryption_key)
        incoming = Incoming(envelope=env, body=body, message=validate_body(ex.types.get(type), body))
    return handler, incoming


class _GroupChanged(Exception):
    """Some row of the group is no longer due (applied meanwhile by another worker)."""


def _apply_group(ex: NodeExchange, s: Session, rows: list[store.DueMessage]) -> list[int] | None:
    """Apply the group in one savepoint, with its ``applied`` state (one statement).

    All or nothing: if any message raises (an error, or ``NotYet``), or a row is no longer due, the savepoint
    is rolled back and None is returned; the caller then applies the messages one savepoint each, so a failure
    stays the failing message's own. Consecutive messages of a type with a group handler go to it together
    (one multi-row write instead of one per message); the handlers' ORM inserts go out in one flush.
    """
    seqs = [row.seq for row in rows]
    try:
        with s.begin_nested():
            # Only rows still due (received or waiting): another worker of this node may have applied some.
            if store.mark_applied(s, seqs, ex.now(), only_due=True) != len(seqs):
                raise _GroupChanged
            run: list[Incoming] = []
            run_type: str | None = None
            for row in rows:
                handler, incoming = _incoming(ex, row.type, row.raw)
                if row.type in ex.group_handlers:
                    if run and run_type != row.type:
                        ex.group_handlers[run_type or ""](s, ex.node, run)
                        run = []
                    run_type = row.type
                    run.append(incoming)
                    continue
                if run:
                    ex.group_handlers[run_type or ""](s, ex.node, run)
                    run, run_type = [], None
                handler(s, ex.node, incoming)
            if run:
                ex.group_handlers[run_type or ""](s, ex.node, run)
    except Exception:
        return None
    return seqs


def _apply_one(ex: NodeExchange, s: Session, row: InboxRow) -> int:
    if row.state not in (store.IN_RECEIVED, store.IN_WAITING):
        return 0
    try:
        with s.begin_nested():
            handler, incoming = _incoming(ex, row.type, row.raw)
            handler(s, ex.node, incoming)
        return 1
    except NotYet as wait:
        now = ex.now()
        row.error = _error_text(wait)
        if now - row.received_at > timedelta(seconds=ex.settings.waiting_max_s):
            row.state = store.IN_PARKED
        else:
            row.state = store.IN_WAITING
            row.next_attempt_at = now + timedelta(seconds=ex.settings.waiting_retry_s)
    except Exception as exc:
        row.attempts += 1
        row.error = _error_text(exc)
        if row.attempts >= ex.settings.apply_max_attempts:
            row.state = store.IN_PARKED
            log.warning("parked inbox message %s (%s)", row.envelope_id, type(exc).__name__)
        else:
            backoff = ex.settings.apply_retry_s * 2 ** (row.attempts - 1)
            row.next_attempt_at = ex.now() + timedelta(seconds=backoff)
    return 0


# -- receipts and relay ----------------------------------------------------------------------------------


async def send_receipts(ex: NodeExchange, publisher: Publisher) -> int:
    """Send one cumulative receipt per sender for what was accepted or refused since the last one."""
    with ex.node.db.session() as s:
        owed = store.receipts_due(s, ex.settings.receipt_batch)
    sent = 0
    for sender, items in owed.items():
        try:
            eid, raw = seal_for(ex, recipient=sender, type=RECEIPT_TYPE, body={"items": items})
        except LookupError:
            continue  # the sender left the directory: nobody to answer
        await publisher.publish(sender, str(eid), raw)
        with ex.node.db.transaction() as s:
            store.mark_receipted(
                s,
                sender,
                [i["id"] for i in items if i["status"] == "accepted"],
                rejected=[i["id"] for i in items if i["status"] != "accepted"],
            )
        sent += len(items)
    return sent


def backoff_s(settings: ExchangeSettings, attempts: int) -> float:
    return float(min(settings.resend_initial_s * 2 ** max(attempts - 1, 0), settings.resend_max_s))


async def relay_due(ex: NodeExchange, publisher: Publisher) -> int:
    """Publish due outbox rows (pipelined); re-send unreceipted ones with backoff; park those out of attempts."""
    now = ex.now()
    with ex.node.db.session() as s:
        rows = store.due_outbox(s, now, ex.settings.relay_batch)
    rows = control.hold_new(ex, rows, now)  # the invariant checker's pause: re-sends only
    exhausted = [r for r in rows if r.attempts >= ex.settings.resend_max_attempts]
    sendable = [r for r in rows if r.attempts < ex.settings.resend_max_attempts]
    if exhausted:
        with ex.node.db.transaction() as s:
            for row in store.outbox_rows(s, [r.id for r in exhausted]):
                if row.state in (store.OUT_QUEUED, store.OUT_SENT):
                    row.state = store.OUT_PARKED
                    row.reason = row.reason or "no receipt"
    if not sendable:
        return 0
    sendable = sign_outbox(ex, sendable)
    for _ in sendable:
        crashpoint(ex.settings, "relay.before_publish")
    results = await asyncio.gather(
        *(publisher.publish(r.recipient, r.id, r.raw) for r in sendable), return_exceptions=True
    )
    for _ in sendable:
        crashpoint(ex.settings, "relay.after_publish")  # counted per message published
    errors = {
        r.id: _error_text(res)[:500]
        for r, res in zip(sendable, results, strict=True)
        if isinstance(res, BaseException)
    }
    later = ex.now()
    with ex.node.db.transaction() as s:
        # Set-based: one statement per (attempts before, error) group; rows receipted meanwhile are left alone.
        groups: dict[tuple[int, str | None], list[str]] = defaultdict(list)
        for r in sendable:
            groups[(r.attempts, errors.get(r.id))].append(r.id)
        for (attempts, error), ids in groups.items():
            store.mark_sent(
                s,
                ids,
                attempts_before=attempts,
                at=later,
                next_attempt_at=later + timedelta(seconds=backoff_s(ex.settings, attempts + 1)),
                reason=error,
            )
    return len(sendable) - len(errors)


def due_work(ex: NodeExchange) -> store.DueWork:
    """Which of ``apply_due``, ``send_receipts`` and ``relay_due`` have anything to do now (one query)."""
    with ex.node.db.engine.connect() as connection:  # Core: no ORM session for one read
        return store.due_work(connection, ex.now())


def purge_expired(ex: NodeExchange) -> int:
    """Forget what is older than the retention: inbox ids (kept longer than the accept window plus the longest
    re-send period, so a late re-send is still recognised), closed outbox rows, and old rejections."""
    now = ex.now()
    keep = timedelta(seconds=ex.settings.inbox_retention_s)
    if keep <= timedelta(seconds=ex.settings.accept_window_s):
        raise ValueError("inbox retention must exceed the accept window")
    with ex.node.db.transaction() as s:
        return store.purge(s, inbox_before=now - keep, rejections_before=now - keep, outbox_before=now - keep)


# -- operator --------------------------------------------------------------------------------------------


def retry_parked(ex: NodeExchange, *, ids: list[str] | None = None) -> int:
    """Put parked outbox and inbox messages back in line (all, or the given envelope ids)."""
    now = ex.now()
    n = 0
    with ex.node.db.transaction() as s:
        for out in store.parked_outbox(s, ids):
            out.state, out.attempts, out.next_attempt_at = store.OUT_QUEUED, 0, now
            n += 1
        for inc in store.parked_inbox(s, ids):
            inc.state, inc.attempts, inc.next_attempt_at, inc.received_at = store.IN_RECEIVED, 0, now, now
            n += 1
    return n


@dataclass(frozen=True)
class DirectoryValidity:
    """How long the node's directory stays valid, and whether operators should be warned."""

    serial: int
    expires_at: datetime
    days_left: float
    warn: bool  # fewer than ``directory_warn_days`` left (or expired)
    expired: bool


def directory_validity(ex: NodeExchange) -> DirectoryValidity:
    directory = ex.directory.current
    days = directory.days_left(ex.now())
    return DirectoryValidity(
        serial=directory.serial,
        expires_at=directory.expires_at,
        days_left=days,
        warn=days < ex.settings.directory_warn_days,
        expired=days < 0,
    )


@dataclass
class PeerStatus:
    peer: str
    queued: int = 0
    awaiting_receipt: int = 0
    acknowledged: int = 0
    parked: int = 0
    rejected: int = 0
    received: int = 0
    applied: int = 0
    waiting: int = 0
    inbox_parked: int = 0
    refused: dict[str, int] = field(default_factory=dict)


def status(ex: NodeExchange) -> list[PeerStatus]:
    with ex.node.db.session() as s:
        out, inc, rej = store.outbox_counts(s), store.inbox_counts(s), store.rejection_counts(s)
    peers: dict[str, PeerStatus] = {}
    for peer in sorted({*out, *inc, *rej}):
        ps = peers.setdefault(peer, PeerStatus(peer=peer))
        o, i = out.get(peer, {}), inc.get(peer, {})
        ps.queued = o.get(store.OUT_QUEUED, 0)
        ps.awaiting_receipt = o.get(store.OUT_SENT, 0)
        ps.acknowledged = o.get(store.OUT_ACKED, 0)
        ps.parked = o.get(store.OUT_PARKED, 0)
        ps.rejected = o.get(store.OUT_REJECTED, 0)
        ps.received = i.get(store.IN_RECEIVED, 0)
        ps.applied = i.get(store.IN_APPLIED, 0)
        ps.waiting = i.get(store.IN_WAITING, 0)
        ps.inbox_parked = i.get(store.IN_PARKED, 0)
        ps.refused = rej.get(peer, {})
    return list(peers.values())
