"""The directory: the signed trust list of nodes and their keys.

The document is canonical JSON (sorted keys, no spaces, UTF-8); the stored form is those exact bytes, a newline,
and a signature block by a national root key. A node verifies the bytes it was given, then parses them: it never
re-serialises a document to verify it. The serial only increases; a document past its expiry plus a grace period
is refused, so one late re-signing does not stop the nation but a stale list does not live forever.

Keys have a purpose (``envelopes``, ``papers``, ``encryption``), a validity window and an optional revocation. A
signature made within its key's validity stays valid later, unless the key was revoked for compromise (then
nothing it signed is trusted), or was revoked for another reason before the signature was made.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tongban.core.clock import ensure_utc
from tongban.exchange.keys import PURPOSES, b64, unb64

FORMAT = "tongban.directory.v1"
ALG_ED25519 = "Ed25519"


class RevocationReason(StrEnum):
    COMPROMISE = "compromise"  # nothing the key ever signed is trusted any more
    SUPERSEDED = "superseded"  # retired early: what it signed before revocation stays valid
    CESSATION = "cessation"  # the node stopped operating


class DirectoryRefused(Exception):
    """A directory document a node must not accept; ``reason`` is a stable slug."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class SignatureRefused(Exception):
    """A signature that does not verify against the directory; ``reason`` is a stable slug.

    Reasons: ``unknown-sender``, ``unknown-key`` (retryable after a directory refresh), ``wrong-purpose``,
    ``key-not-valid`` (outside its validity at the signing time), ``revoked-key``, ``bad-signature``.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)

    @property
    def retryable(self) -> bool:
        return self.reason == "unknown-key"


def _ts(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat(timespec="microseconds")


def _parse_ts(value: Any) -> datetime | None:
    if value is None:
        return None
    return ensure_utc(datetime.fromisoformat(str(value)))


@dataclass(frozen=True)
class NodeKey:
    key_id: str
    purpose: str
    public_key: bytes
    not_before: datetime
    not_after: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: RevocationReason | None = None
    alg: str = ALG_ED25519

    def valid_for_signature_at(self, at: datetime) -> str | None:
        """None when a signature made at ``at`` is trusted; else the refusal reason."""
        if self.revoked_at is not None and (
            self.revocation_reason == RevocationReason.COMPROMISE or at >= self.revoked_at
        ):
            return "revoked-key"
        if at < self.not_before or (self.not_after is not None and at >= self.not_after):
            return "key-not-valid"
        return None

    def usable_at(self, at: datetime) -> bool:
        """Whether the key may be used to sign or encrypt now (valid and not revoked)."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return False
        if self.revocation_reason == RevocationReason.COMPROMISE:
            return False
        return self.not_before <= at and (self.not_after is None or at < self.not_after)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "purpose": self.purpose,
            "alg": self.alg,
            "public_key": b64(self.public_key),
            "not_before": _ts(self.not_before),
            "not_after": _ts(self.not_after),
            "revoked_at": _ts(self.revoked_at),
            "revocation_reason": None if self.revocation_reason is None else str(self.revocation_reason),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NodeKey:
        purpose = str(raw["purpose"])
        if purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        not_before = _parse_ts(raw["not_before"])
        assert not_before is not None
        reason = raw.get("revocation_reason")
        return cls(
            key_id=str(raw["key_id"]),
            purpose=purpose,
            alg=str(raw.get("alg", ALG_ED25519)),
            public_key=unb64(str(raw["public_key"])),
            not_before=not_before,
            not_after=_parse_ts(raw.get("not_after")),
            revoked_at=_parse_ts(raw.get("revoked_at")),
            revocation_reason=None if reason is None else RevocationReason(reason),
        )


@dataclass(frozen=True)
class NodeRecord:
    code: str
    name: str
    address: str  # transport address, e.g. the JetStream subject ``tongban.node.110000``
    keys: tuple[NodeKey, ...] = ()

    def key(self, key_id: str) -> NodeKey | None:
        return self._by_key_id.get(key_id)

    @functools.cached_property
    def _by_key_id(self) -> dict[str, NodeKey]:
        return {k.key_id: k for k in self.keys}

    def current_key(self, purpose: str, at: datetime) -> NodeKey | None:
        """The key to sign or encrypt with at ``at``: the usable one that took effect last."""
        usable = [k for k in self.keys if k.purpose == purpose and k.usable_at(at)]
        return max(usable, key=lambda k: k.not_before, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "address": self.address,
            "keys": [k.to_json() for k in self.keys],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> NodeRecord:
        return cls(
            code=str(raw["code"]),
            name=str(raw["name"]),
            address=str(raw["address"]),
            keys=tuple(NodeKey.from_json(k) for k in raw.get("keys", [])),
        )


@dataclass(frozen=True)
class Directory:
    serial: int
    issued_at: datetime
    expires_at: datetime
    nodes: tuple[NodeRecord, ...] = ()
    # The exact signed bytes this directory was read from (empty for one being edited).
    raw: bytes = field(default=b"", compare=False, repr=False)

    def node(self, code: str) -> NodeRecord | None:
        return self._by_code.get(code)

    @functools.cached_property
    def _by_code(self) -> dict[str, NodeRecord]:
        # Looked up for every envelope received or sent; the directory never changes once read.
        return {n.code: n for n in self.nodes}

    def days_left(self, now: datetime) -> float:
        """Days until the directory expires (negative once expired; nodes still use it during the grace)."""
        return (self.expires_at - now).total_seconds() / 86400

    def canonical_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "serial": self.serial,
            "issued_at": _ts(self.issued_at),
            "expires_at": _ts(self.expires_at),
            "nodes": [n.to_json() for n in sorted(self.nodes, key=lambda n: n.code)],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def parse(cls, document: bytes) -> Directory:
        raw = json.loads(document.decode("utf-8"))
        if raw.get("format") != FORMAT:
            raise DirectoryRefused("malformed", "unknown directory format")
        issued = _parse_ts(raw["issued_at"])
        expires = _parse_ts(raw["expires_at"])
        assert issued is not None and expires is not None
        return cls(
            serial=int(raw["serial"]),
            issued_at=issued,
            expires_at=expires,
            nodes=tuple(NodeRecord.from_json(n) for n in raw.get("nodes", [])),
            raw=document,
        )

    # -- editing (by the national operator); each returns a new, unsigned directory --------------------

    def with_node(self, record: NodeRecord) -> Directory:
        others = tuple(n for n in self.nodes if n.code != record.code)
        return replace(self, nodes=(*others, record), raw=b"")

    def with_key(self, code: str, key: NodeKey) -> Directory:
        node = self.node(code)
        if node is None:
            raise KeyError(code)
        keys = (*tuple(k for k in node.keys if k.key_id != key.key_id), key)
        return self.with_node(replace(node, keys=keys))


# -- signing and verifying ------------------------------------------------------------------------------


def sign_blob(payload: bytes, key: Ed25519PrivateKey, key_id: str) -> bytes:
    """``payload`` + newline + a signature block over exactly ``payload``."""
    if b"\n" in payload:
        raise ValueError("a signed payload is one line")
    block = {"alg": ALG_ED25519, "key_id": key_id, "signature": b64(key.sign(payload))}
    return payload + b"\n" + json.dumps(block, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True)
class SignedBlob:
    payload: bytes
    alg: str
    key_id: str
    signature: bytes
    # A batch signature's Merkle path from the payload to the signed root (see ``exchange.domain``).
    path: tuple[str, ...] | None = None


def split_blob(data: bytes) -> SignedBlob:
    """Split a signed blob without touching the payload bytes. Raises ``ValueError`` if malformed."""
    payload, sep, block_raw = data.partition(b"\n")
    if not sep:
        raise ValueError("no signature block")
    block = json.loads(block_raw.decode("ascii"))
    if not isinstance(block, dict):
        raise ValueError("malformed signature block")
    path = block.get("path")
    if path is not None and not (isinstance(path, list) and all(isinstance(p, str) for p in path)):
        raise ValueError("malformed path")
    return SignedBlob(
        payload=payload,
        alg=str(block["alg"]),
        key_id=str(block["key_id"]),
        signature=unb64(str(block["signature"])),
        path=None if path is None else tuple(path),
    )


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        _public_key(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """Public key objects by their bytes (a nation has a few hundred keys; each is decoded once)."""
    return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class RootKey:
    key_id: str
    public_key: bytes


def sign_directory(directory: Directory, root_key: Ed25519PrivateKey, root_key_id: str) -> bytes:
    """The stored form of ``directory``: its canonical bytes, signed by the root key."""
    return sign_blob(directory.canonical_bytes(), root_key, root_key_id)


def load_directory(
    data: bytes,
    *,
    roots: Iterable[RootKey],
    now: datetime,
    grace: timedelta,
    current: Directory | None = None,
) -> Directory:
    """Verify and parse a stored directory; refuse unsigned, wrongly signed, older or expired ones."""
    try:
        blob = split_blob(data)
    except (ValueError, KeyError, UnicodeDecodeError) as exc:
        raise DirectoryRefused("unsigned", str(exc)) from None
    root = next((r for r in roots if r.key_id == blob.key_id), None)
    if root is None or blob.alg != ALG_ED25519 or blob.path is not None:
        raise DirectoryRefused("unknown-root-key", blob.key_id)
    if not verify_ed25519(root.public_key, blob.payload, blob.signature):
        raise DirectoryRefused("bad-signature")
    try:
        directory = Directory.parse(blob.payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise DirectoryRefused("malformed", str(exc)) from None
    directory = replace(directory, raw=data)
    if current is not None:
        if directory.serial < current.serial:
            raise DirectoryRefused("older-serial", f"{directory.serial} < {current.serial}")
        if directory.serial == current.serial and blob.payload != split_blob(current.raw).payload:
            raise DirectoryRefused("serial-reused", str(directory.serial))
    if now > directory.expires_at + grace:
        raise DirectoryRefused("expired", directory.expires_at.isoformat())
    return directory


def verify_signature(
    directory: Directory,
    node_code: str,
    key_id: str,
    purpose: str,
    message: bytes,
    signature: bytes,
    at: datetime,
    *,
    check: Callable[[bytes, bytes, bytes], bool] | None = None,
) -> None:
    """Check that ``node_code``'s key ``key_id`` of ``purpose`` signed ``message`` at time ``at``.

    Raises ``SignatureRefused``. A signature made within the key's validity stays valid unless the key was
    revoked for compromise (or revoked otherwise before ``at``). ``check(public_key, message, signature)``
    replaces the Ed25519 verification itself (a cache of verified batch roots); the directory's checks of the
    sender, the key, its purpose and its validity at ``at`` are made every time.
    """
    node = directory.node(node_code)
    if node is None:
        raise SignatureRefused("unknown-sender", node_code)
    key = node.key(key_id)
    if key is None:
        raise SignatureRefused("unknown-key", key_id)
    if key.purpose != purpose:
        raise SignatureRefused("wrong-purpose", f"{key.purpose} != {purpose}")
    refusal = key.valid_for_signature_at(ensure_utc(at))
    if refusal is not None:
        raise SignatureRefused(refusal, key_id)
    if key.alg != ALG_ED25519 or not (check or verify_ed25519)(key.public_key, message, signature):
        raise SignatureRefused("bad-signature", key_id)


def current_signing_key(
    directory: Directory, provider: Any, node_code: str, purpose: str, at: datetime
) -> tuple[str, Ed25519PrivateKey]:
    """The key id and private key ``node_code`` signs with for ``purpose`` at ``at`` (``provider``: a
    ``KeyProvider``). Raises ``LookupError`` when the directory lists no usable key of that purpose."""
    node = directory.node(node_code)
    key = node.current_key(purpose, ensure_utc(at)) if node else None
    if key is None:
        raise LookupError(f"node {node_code} has no usable {purpose} key")
    private: Ed25519PrivateKey = provider.signing_key(purpose, key.key_id)
    return key.key_id, private


# -- files: the stored directory and the trusted root keys ----------------------------------------------

DIRECTORY_FILE = "directory.signed"
ROOTS_FILE = "directory-roots.json"


def read_roots(data_dir: Path) -> list[RootKey]:
    path = data_dir / ROOTS_FILE
    if not path.exists():
        return []
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [RootKey(key_id=r["key_id"], public_key=unb64(r["public_key"])) for r in raw]


def write_roots(data_dir: Path, roots: list[RootKey]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    doc = [{"key_id": r.key_id, "public_key": b64(r.public_key)} for r in roots]
    (data_dir / ROOTS_FILE).write_text(json.dumps(doc, indent=2), encoding="utf-8")


def write_directory_file(data_dir: Path, signed: bytes) -> None:
    tmp = data_dir / (DIRECTORY_FILE + ".tmp")
    tmp.write_bytes(signed)
    tmp.replace(data_dir / DIRECTORY_FILE)


class DirectoryHolder:
    """A node's accepted directory; ``refresh()`` re-reads its source and accepts only a valid newer one."""

    def __init__(self, data_dir: Path, *, grace: timedelta, clock: Any) -> None:
        self.data_dir = data_dir
        self.grace = grace
        self.clock = clock
        self._lock = threading.Lock()
        self._current: Directory | None = None

    @property
    def current(self) -> Directory:
        with self._lock:
            current = self._current
        if current is None:
            return self.refresh()
        return current

    def refresh(self) -> Directory:
        """Re-read the directory; keep the current one when the source is refused or unchanged."""
        data = (self.data_dir / DIRECTORY_FILE).read_bytes()
        with self._lock:
            if self._current is not None and data == self._current.raw:
                # The bytes verified last time: the current one is kept whatever a check would say now.
                return self._current
            try:
                self._current = load_directory(
                    data,
                    roots=read_roots(self.data_dir),
                    now=self.clock.now(),
                    grace=self.grace,
                    current=self._current,
                )
            except DirectoryRefused:
                if self._current is None:
                    raise
            return self._current

    def accept(self, data: bytes) -> Directory:
        """Accept a directory pushed to this node (raises ``DirectoryRefused``)."""
        with self._lock:
            self._current = load_directory(
                data,
                roots=read_roots(self.data_dir),
                now=self.clock.now(),
                grace=self.grace,
                current=self._current,
            )
            return self._current


def node_name(data_dir: Path, code: str, *, now: datetime, grace: timedelta) -> str | None:
    """The name the signed directory of ``data_dir`` gives node ``code`` (``None`` without a valid directory
    or when it does not list the node): how a node served alone (``serve --node``) knows its own name."""
    try:
        directory = load_directory(
            (data_dir / DIRECTORY_FILE).read_bytes(), roots=read_roots(data_dir), now=now, grace=grace
        )
    except (OSError, ValueError, DirectoryRefused):
        return None
    record = directory.node(code)
    return None if record is None else record.name
