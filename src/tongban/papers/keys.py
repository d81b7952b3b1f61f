"""Paper keys until the national directory is wired in: an Ed25519 signer and key lists in files.

``Ed25519Signer`` implements ``PaperSigner``; ``StaticKeyResolver`` implements ``PaperKeyResolver`` over a list
of public keys. Its file (``tongban.paper-keys.v1``) uses the directory's key fields (key_id, purpose, alg,
public_key, not_before, not_after, revoked_at, revocation_reason) per node code, so a directory adapter reads
the same facts. ``FileKeyStore`` keeps each node's private paper keys as files under a data dir.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tongban.core.clock import ensure_utc
from tongban.papers.canonical import b64url, canonical_json, parse_json, unb64url
from tongban.papers.domain import ALG_ED25519, PaperKey

KEYS_FORMAT = "tongban.paper-keys.v1"


@dataclass(frozen=True)
class Ed25519Signer:
    key_id: str
    private_key: Ed25519PrivateKey
    algorithm: str = ALG_ED25519

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def new_key_id(issuer: str) -> str:
    return f"{issuer}-papers-{secrets.token_hex(4)}"


def generate_key(
    issuer: str, *, not_before: datetime, key_id: str | None = None
) -> tuple[Ed25519Signer, PaperKey]:
    """A new paper key pair for ``issuer``: the signer and the public entry for the key list."""
    signer = Ed25519Signer(key_id or new_key_id(issuer), Ed25519PrivateKey.generate())
    return signer, PaperKey(issuer, signer.key_id, signer.public_key, ensure_utc(not_before))


def _ts(value: datetime | None) -> str | None:
    return None if value is None else ensure_utc(value).isoformat()


def _parse_ts(value: Any) -> datetime | None:
    return None if value is None else ensure_utc(datetime.fromisoformat(str(value)))


class StaticKeyResolver:
    """Public paper keys held in memory (from a key-list file, or built by tests)."""

    def __init__(self, keys: Iterable[PaperKey] = ()) -> None:
        self._keys: dict[tuple[str, str], PaperKey] = {}
        for key in keys:
            self.add(key)

    def add(self, key: PaperKey) -> None:
        self._keys[(key.issuer, key.key_id)] = key

    def revoke(self, issuer: str, key_id: str, *, at: datetime, reason: str) -> None:
        key = self._keys[(issuer, key_id)]
        self._keys[(issuer, key_id)] = replace(key, revoked_at=ensure_utc(at), revocation_reason=reason)

    def paper_key(self, issuer: str, key_id: str) -> PaperKey | None:
        return self._keys.get((issuer, key_id))

    def all_keys(self) -> list[PaperKey]:
        return sorted(self._keys.values(), key=lambda k: (k.issuer, k.not_before, k.key_id))

    def to_bytes(self) -> bytes:
        nodes: dict[str, list[dict[str, Any]]] = {}
        for k in self.all_keys():
            nodes.setdefault(k.issuer, []).append(
                {
                    "key_id": k.key_id,
                    "purpose": "papers",
                    "alg": k.algorithm,
                    "public_key": b64url(k.public_key),
                    "not_before": _ts(k.not_before),
                    "not_after": _ts(k.not_after),
                    "revoked_at": _ts(k.revoked_at),
                    "revocation_reason": k.revocation_reason,
                }
            )
        return canonical_json({"format": KEYS_FORMAT, "nodes": nodes})

    @classmethod
    def from_bytes(cls, data: bytes) -> StaticKeyResolver:
        raw = parse_json(data)
        if not isinstance(raw, dict) or raw.get("format") != KEYS_FORMAT:
            raise ValueError("not a tongban paper key list")
        keys = []
        for issuer, entries in raw["nodes"].items():
            for e in entries:
                if e.get("purpose", "papers") != "papers":
                    continue
                not_before = _parse_ts(e["not_before"])
                assert not_before is not None
                keys.append(
                    PaperKey(
                        issuer=issuer,
                        key_id=str(e["key_id"]),
                        public_key=unb64url(str(e["public_key"])),
                        not_before=not_before,
                        not_after=_parse_ts(e.get("not_after")),
                        revoked_at=_parse_ts(e.get("revoked_at")),
                        revocation_reason=e.get("revocation_reason"),
                        algorithm=str(e.get("alg", ALG_ED25519)),
                    )
                )
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> StaticKeyResolver:
        return cls.from_bytes(path.read_bytes())


class FileKeyStore:
    """Private paper keys of the nodes of a data dir, one file per key, and the public key list beside them.

    ``<root>/<issuer>/<key_id>.key`` holds the raw private key (base64url), readable by the owner only;
    ``<root>/paper-keys.json`` is the public key list every verifier may have.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def public_list(self) -> Path:
        return self.root / "paper-keys.json"

    def resolver(self) -> StaticKeyResolver:
        if not self.public_list.exists():
            return StaticKeyResolver()
        return StaticKeyResolver.from_file(self.public_list)

    def current_signer(self, issuer: str, at: datetime) -> Ed25519Signer | None:
        """The issuer's newest paper key usable at ``at`` whose private key is here."""
        usable = [
            k
            for k in self.resolver().all_keys()
            if k.issuer == issuer
            and k.revoked_at is None
            and k.not_before <= at
            and (k.not_after is None or at < k.not_after)
            and (self.root / issuer / f"{k.key_id}.key").exists()
        ]
        if not usable:
            return None
        key = max(usable, key=lambda k: k.not_before)
        raw = unb64url((self.root / issuer / f"{key.key_id}.key").read_text().strip())
        return Ed25519Signer(key.key_id, Ed25519PrivateKey.from_private_bytes(raw))

    def create(self, issuer: str, *, not_before: datetime) -> PaperKey:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        # Whole seconds, as papers carry their issue time: a key made now signs a paper issued now.
        signer, public = generate_key(issuer, not_before=ensure_utc(not_before).replace(microsecond=0))
        folder = self.root / issuer
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{signer.key_id}.key"
        raw = signer.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(b64url(raw))
        resolver = self.resolver()
        resolver.add(public)
        tmp = self.public_list.with_suffix(".tmp")
        tmp.write_bytes(resolver.to_bytes())
        tmp.replace(self.public_list)
        return public


def dump_keys_json(resolver: StaticKeyResolver) -> str:
    return json.dumps(json.loads(resolver.to_bytes()), ensure_ascii=False, indent=2)
