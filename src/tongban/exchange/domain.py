"""Envelopes, receipts and message types: plain Python and ``cryptography``, no storage, no web.

Wire form of an envelope: one line of canonical JSON (the payload), a newline, and a signature block
(``alg``, ``key_id``, ``signature``) over exactly those payload bytes; or, for an envelope signed with others
in one relay batch (``alg`` ``Ed25519-SHA256-Merkle``), a signature over the root of a Merkle tree of the
batch's payloads and the envelope's ``path`` to that root, so each envelope still verifies alone (DESIGN.md,
"Batch signing is allowed"). The payload holds the routing fields
(id, sender, recipient, type, case_ref, created_at, consent_ref, in_reply_to) and either a clear ``body`` or,
for types carrying personal data, ``enc``: the body encrypted to the recipient's X25519 key (ephemeral X25519,
HKDF-SHA256, ChaCha20-Poly1305, with the routing fields as associated data). Verification uses the received
bytes; nothing is re-serialised or normalised before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ValidationError

from tongban.core.clock import ensure_utc
from tongban.exchange.directory import ALG_ED25519, SignatureRefused, SignedBlob, sign_blob, split_blob
from tongban.exchange.keys import b64, public_bytes_of, unb64

ALG_ED25519_MERKLE = "Ed25519-SHA256-Merkle"
# Signed with a batch root, so a root signature can never be taken for an envelope's (or a directory's).
BATCH_ROOT_CONTEXT = b"tongban.envelope-batch.v1\n"
# A path longer than this is refused (a relay batch of a billion envelopes would need 30).
MAX_PATH = 32
ENC_ALG = "X25519-HKDF-SHA256-ChaCha20Poly1305"
RECEIPT_TYPE = "exchange.receipt.v1"
_TYPE_RE = re.compile(r"^([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+)\.v([0-9]+)$")


class Rejection(StrEnum):
    """Why a received envelope was refused (stored in the rejections log and sent in negative receipts)."""

    OVERSIZE = "oversize"
    MALFORMED = "malformed"
    WRONG_RECIPIENT = "wrong-recipient"
    UNKNOWN_SENDER = "unknown-sender"
    UNKNOWN_KEY = "unknown-key"
    WRONG_PURPOSE = "wrong-purpose"
    KEY_NOT_VALID = "key-not-valid"
    REVOKED_KEY = "revoked-key"
    BAD_SIGNATURE = "bad-signature"
    FORGERY = "forgery"
    STALE = "stale"
    UNSUPPORTED_TYPE = "unsupported-type"
    INVALID_BODY = "invalid-body"
    UNDECRYPTABLE = "undecryptable"

    @property
    def retryable(self) -> bool:
        return self is Rejection.UNKNOWN_KEY


class Rejected(Exception):
    def __init__(self, reason: Rejection, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else str(reason))


def rejection_of(refused: SignatureRefused) -> Rejection:
    return Rejection(refused.reason)


class NotYet(Exception):
    """Raised by a handler whose message depends on one not applied yet: the message waits and is retried."""


# -- message types ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageType:
    name: str  # e.g. "registry.locator.update.v1"
    base: str
    version: int
    schema: type[BaseModel]
    personal: bool  # the body carries personal data: encrypt it to the recipient


def split_type(name: str) -> tuple[str, int]:
    match = _TYPE_RE.match(name)
    if match is None:
        raise ValueError(f"malformed message type {name!r}")
    return match.group(1), int(match.group(2))


class TypeRegistry:
    """Known message types; a node accepts each type's current version and the one before it."""

    def __init__(self) -> None:
        self._types: dict[str, MessageType] = {}

    def register(self, name: str, schema: type[BaseModel], *, personal: bool = False) -> MessageType:
        base, version = split_type(name)
        existing = self._types.get(name)
        if existing is not None and existing.schema is not schema:
            raise ValueError(f"message type {name} registered twice")
        mt = MessageType(name=name, base=base, version=version, schema=schema, personal=personal)
        self._types[name] = mt
        return mt

    def current_version(self, base: str) -> int | None:
        versions = [t.version for t in self._types.values() if t.base == base]
        return max(versions, default=None)

    def accepted(self, name: str) -> MessageType | None:
        """The type ``name`` if this node accepts it (current or previous version), else None."""
        mt = self._types.get(name)
        if mt is None:
            return None
        current = self.current_version(mt.base)
        assert current is not None
        return mt if mt.version >= current - 1 else None

    def get(self, name: str) -> MessageType:
        mt = self._types.get(name)
        if mt is None:
            raise KeyError(name)
        return mt


class ReceiptItem(BaseModel):
    id: str
    status: str  # "accepted" | "rejected"
    reason: str | None = None
    retryable: bool = False


class ReceiptBody(BaseModel):
    items: list[ReceiptItem]


types = TypeRegistry()
types.register(RECEIPT_TYPE, ReceiptBody)


# -- envelopes -------------------------------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope_hash(raw: bytes) -> str:
    """The hash a response carries of the request it answers: SHA-256 of the request's exact payload line.

    The payload is what the signature covers; it is the same in the outbox before the relay signs it and in
    the signed envelope the recipient receives, so ``raw`` may be either.
    """
    return hashlib.sha256(raw.partition(b"\n")[0]).hexdigest()


# -- batch signatures ------------------------------------------------------------------------------------


def _leaf(payload: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + payload).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_paths(payloads: list[bytes]) -> tuple[bytes, list[list[str]]]:
    """The Merkle root of ``payloads`` and each one's path to it.

    Leaves and inner nodes are hashed with different prefixes (RFC 6962), an odd node is carried up as it is;
    a path step is ``l`` or ``r`` (the sibling's side) and the sibling's hash in base64.
    """
    if not payloads:
        raise ValueError("an empty batch")
    level = [_leaf(p) for p in payloads]
    members: list[list[int]] = [[i] for i in range(len(payloads))]
    paths: list[list[str]] = [[] for _ in payloads]
    while len(level) > 1:
        up: list[bytes] = []
        up_members: list[list[int]] = []
        for j in range(0, len(level) - 1, 2):
            left, right = level[j], level[j + 1]
            right_step, left_step = "r" + b64(right), "l" + b64(left)
            for i in members[j]:
                paths[i].append(right_step)
            for i in members[j + 1]:
                paths[i].append(left_step)
            up.append(_node(left, right))
            up_members.append(members[j] + members[j + 1])
        if len(level) % 2:
            up.append(level[-1])
            up_members.append(members[-1])
        level, members = up, up_members
    return level[0], paths


def batch_root(payload: bytes, path: tuple[str, ...] | list[str]) -> bytes:
    """The root ``path`` leads to from ``payload``. Raises ``ValueError`` if the path is malformed."""
    if len(path) > MAX_PATH:
        raise ValueError("path too long")
    digest = _leaf(payload)
    for step in path:
        side, sibling = step[:1], unb64(step[1:])
        if len(sibling) != 32:
            raise ValueError("malformed path step")
        if side == "l":
            digest = _node(sibling, digest)
        elif side == "r":
            digest = _node(digest, sibling)
        else:
            raise ValueError("malformed path step")
    return digest


def sign_batch(payloads: list[bytes], signing_key: Ed25519PrivateKey, key_id: str) -> list[bytes]:
    """Sign envelope payloads together: one Ed25519 signature over their Merkle root, each envelope carrying
    its path, so each verifies alone. A batch of one is signed plainly."""
    if any(b"\n" in p for p in payloads):
        raise ValueError("a signed payload is one line")
    if len(payloads) == 1:
        return [sign_blob(payloads[0], signing_key, key_id)]
    root, paths = merkle_paths(payloads)
    signature = b64(signing_key.sign(BATCH_ROOT_CONTEXT + root))
    out = []
    for payload, path in zip(payloads, paths, strict=True):
        block = {"alg": ALG_ED25519_MERKLE, "key_id": key_id, "path": path, "signature": signature}
        out.append(payload + b"\n" + json.dumps(block, sort_keys=True, separators=(",", ":")).encode("ascii"))
    return out


def _ts(value: datetime) -> str:
    return ensure_utc(value).isoformat(timespec="microseconds")


ROUTING_FIELDS = ("id", "sender", "recipient", "type", "case_ref", "created_at", "consent_ref", "in_reply_to")


@dataclass(frozen=True)
class Envelope:
    id: uuid.UUID
    sender: str
    recipient: str
    type: str
    case_ref: str | None
    created_at: datetime
    consent_ref: str | None
    in_reply_to: str | None
    body: dict[str, Any] | None  # clear body (None while encrypted)
    enc: dict[str, str] | None
    alg: str
    key_id: str
    signature: bytes
    payload: bytes = field(repr=False)
    raw: bytes = field(repr=False)
    # What the signature covers: the payload, or for a batch signature the batch's root (with its context).
    signed: bytes = field(default=b"", repr=False)

    @property
    def batch_signed(self) -> bool:
        return self.alg == ALG_ED25519_MERKLE

    def routing(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "sender": self.sender,
            "recipient": self.recipient,
            "type": self.type,
            "case_ref": self.case_ref,
            "created_at": _ts(self.created_at),
            "consent_ref": self.consent_ref,
            "in_reply_to": self.in_reply_to,
        }


def _derive(shared: bytes, epk: bytes, rpk: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"tongban.envelope.v1" + epk + rpk
    ).derive(shared)


def encrypt_body(
    body: dict[str, Any], routing: dict[str, Any], recipient_key_id: str, recipient_pub: bytes
) -> dict[str, str]:
    eph = X25519PrivateKey.generate()
    epk = public_bytes_of(eph)
    key = _derive(eph.exchange(X25519PublicKey.from_public_bytes(recipient_pub)), epk, recipient_pub)
    nonce = os.urandom(12)
    ct = ChaCha20Poly1305(key).encrypt(nonce, canonical_json(body), canonical_json(routing))
    return {"alg": ENC_ALG, "kid": recipient_key_id, "epk": b64(epk), "nonce": b64(nonce), "ct": b64(ct)}


def decrypt_body(envelope: Envelope, lookup_key: Callable[[str], X25519PrivateKey]) -> dict[str, Any]:
    """The clear body of ``envelope``; raises ``Rejected(UNDECRYPTABLE)``."""
    if envelope.enc is None:
        assert envelope.body is not None
        return envelope.body
    enc = envelope.enc
    try:
        if enc.get("alg") != ENC_ALG:
            raise ValueError("unknown encryption algorithm")
        private = lookup_key(enc["kid"])
        epk = unb64(enc["epk"])
        rpk = public_bytes_of(private)
        key = _derive(private.exchange(X25519PublicKey.from_public_bytes(epk)), epk, rpk)
        clear = ChaCha20Poly1305(key).decrypt(
            unb64(enc["nonce"]), unb64(enc["ct"]), canonical_json(envelope.routing())
        )
        body = json.loads(clear.decode("utf-8"))
    except (InvalidTag, ValueError, KeyError, LookupError, UnicodeDecodeError) as exc:
        raise Rejected(Rejection.UNDECRYPTABLE, type(exc).__name__) from None
    if not isinstance(body, dict):
        raise Rejected(Rejection.UNDECRYPTABLE, "body is not an object")
    return body


def seal(
    *,
    sender: str,
    recipient: str,
    type: str,
    body: dict[str, Any],
    created_at: datetime,
    signing_key: Ed25519PrivateKey,
    key_id: str,
    case_ref: str | None = None,
    consent_ref: str | None = None,
    in_reply_to: str | None = None,
    encrypt_to: tuple[str, bytes] | None = None,
    envelope_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bytes]:
    """Build, (encrypt,) and sign an envelope; returns its id and its exact wire bytes."""
    eid, payload = build(
        sender=sender,
        recipient=recipient,
        type=type,
        body=body,
        created_at=created_at,
        case_ref=case_ref,
        consent_ref=consent_ref,
        in_reply_to=in_reply_to,
        encrypt_to=encrypt_to,
        envelope_id=envelope_id,
    )
    return eid, sign_blob(payload, signing_key, key_id)


def build(
    *,
    sender: str,
    recipient: str,
    type: str,
    body: dict[str, Any],
    created_at: datetime,
    case_ref: str | None = None,
    consent_ref: str | None = None,
    in_reply_to: str | None = None,
    encrypt_to: tuple[str, bytes] | None = None,
    envelope_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bytes]:
    """Build (and encrypt) an envelope's payload line, to be signed later (by the relay, in a batch)."""
    eid = envelope_id or uuid.uuid4()
    routing = {
        "id": str(eid),
        "sender": sender,
        "recipient": recipient,
        "type": type,
        "case_ref": case_ref,
        "created_at": _ts(created_at),
        "consent_ref": consent_ref,
        "in_reply_to": in_reply_to,
    }
    payload: dict[str, Any] = dict(routing)
    if encrypt_to is not None:
        payload["enc"] = encrypt_body(body, routing, encrypt_to[0], encrypt_to[1])
    else:
        payload["body"] = body
    return eid, canonical_json(payload)


def parse(raw: bytes, *, unsigned: bool = False) -> Envelope:
    """Parse wire bytes (no verification). Raises ``Rejected(MALFORMED)``.

    ``unsigned``: also read a payload line the relay has not signed yet (an outbox row), with empty
    signature fields.
    """
    try:
        if unsigned and b"\n" not in raw:
            blob = SignedBlob(payload=raw, alg="", key_id="", signature=b"")
        else:
            blob = split_blob(raw)
        signed = blob.payload
        if blob.alg == ALG_ED25519_MERKLE:
            if blob.path is None:
                raise ValueError("a batch signature without its path")
            signed = BATCH_ROOT_CONTEXT + batch_root(blob.payload, blob.path)
        elif blob.path is not None:
            raise ValueError("a path without a batch signature")
        doc = json.loads(blob.payload.decode("utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("payload is not an object")
        body = doc.get("body")
        enc = doc.get("enc")
        if (body is None) == (enc is None):
            raise ValueError("exactly one of body and enc")
        if body is not None and not isinstance(body, dict):
            raise ValueError("body is not an object")
        if enc is not None and not (isinstance(enc, dict) and all(isinstance(v, str) for v in enc.values())):
            raise ValueError("malformed enc")
        for name in ("sender", "recipient", "type", "created_at"):
            if not isinstance(doc.get(name), str):
                raise ValueError(f"missing {name}")
        for name in ("case_ref", "consent_ref", "in_reply_to"):
            if doc.get(name) is not None and not isinstance(doc[name], str):
                raise ValueError(f"malformed {name}")
        return Envelope(
            id=uuid.UUID(str(doc["id"])),
            sender=doc["sender"],
            recipient=doc["recipient"],
            type=doc["type"],
            case_ref=doc.get("case_ref"),
            created_at=ensure_utc(datetime.fromisoformat(doc["created_at"])),
            consent_ref=doc.get("consent_ref"),
            in_reply_to=doc.get("in_reply_to"),
            body=body,
            enc=enc,
            alg=blob.alg,
            key_id=blob.key_id,
            signature=blob.signature,
            payload=blob.payload,
            raw=raw,
            signed=signed,
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError, OverflowError) as exc:
        # RecursionError: JSON nested deeper than the parser's recursion limit; OverflowError: a creation time
        # whose zone puts it outside the years 1..9999 in UTC.
        raise Rejected(Rejection.MALFORMED, type(exc).__name__) from None


def check_fresh(created_at: datetime, now: datetime, *, window: timedelta, future_skew: timedelta) -> None:
    if created_at < now - window or created_at > now + future_skew:
        raise Rejected(Rejection.STALE, created_at.isoformat())


def validate_body(mt: MessageType, body: dict[str, Any]) -> BaseModel:
    try:
        return mt.schema.model_validate(body)
    except ValidationError as exc:
        # Only the locations and error kinds: the values may be personal data.
        where = ";".join(".".join(str(p) for p in e["loc"]) + ":" + e["type"] for e in exc.errors())
        raise Rejected(Rejection.INVALID_BODY, where[:500]) from None


__all__ = [
    "ALG_ED25519",
    "ALG_ED25519_MERKLE",
    "RECEIPT_TYPE",
    "Envelope",
    "MessageType",
    "NotYet",
    "ReceiptBody",
    "ReceiptItem",
    "Rejected",
    "Rejection",
    "TypeRegistry",
    "batch_root",
    "build",
    "check_fresh",
    "decrypt_body",
    "envelope_hash",
    "merkle_paths",
    "parse",
    "seal",
    "sign_batch",
    "types",
    "validate_body",
]
