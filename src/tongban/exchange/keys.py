"""Key providers: where a node's private keys live (files now, an HSM later).

A provider holds private keys by key id and purpose (``envelopes``, ``papers``, ``encryption``); the public halves
are published in the directory. The file provider keeps each key as a PEM file (PKCS#8, mode 0600) under
``<data_dir>/keys/<node code>/<purpose>/<key id>.pem``.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

PURPOSES = ("envelopes", "papers", "encryption")
SIGNING_PURPOSES = ("envelopes", "papers")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Strict base64 (no characters outside the alphabet, correct padding): ``binascii.Error``, a
    ``ValueError``, otherwise. ``a2b_base64`` in strict mode, much cheaper than ``b64decode(validate=True)``."""
    return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)


def public_bytes_of(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class PublicKeyInfo:
    key_id: str
    purpose: str
    public_key: bytes  # raw 32 bytes (Ed25519 for signing purposes, X25519 for encryption)


class KeyProvider(Protocol):
    """Private keys of one node (or of the national root), by key id and purpose."""

    def generate(self, purpose: str) -> PublicKeyInfo:
        """Create a new key for ``purpose``; returns its id and public half."""
        ...

    def signing_key(self, purpose: str, key_id: str) -> Ed25519PrivateKey:
        """The Ed25519 private key ``key_id`` of a signing purpose."""
        ...

    def encryption_key(self, key_id: str) -> X25519PrivateKey:
        """The X25519 private key ``key_id`` (purpose ``encryption``)."""
        ...

    def public_keys(self) -> list[PublicKeyInfo]:
        """The public halves of every key held."""
        ...


class KeyNotFound(LookupError):
    pass


def new_key_id(purpose: str) -> str:
    return f"{purpose[:3]}-{secrets.token_hex(6)}"


class FileKeyProvider:
    """Keys as PEM files, readable by the owner only (0600), in 0700 directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Loaded private keys by (purpose, key id): a key id names one key for good (ids are never reused), so
        # the file is read and parsed once, not for every envelope signed or decrypted.
        self._loaded: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    def _path(self, purpose: str, key_id: str) -> Path:
        if purpose not in PURPOSES and purpose != "root":
            raise ValueError(f"unknown key purpose {purpose!r}")
        if not key_id.replace("-", "").isalnum():
            raise ValueError("malformed key id")
        return self.root / purpose / f"{key_id}.pem"

    def _write(self, path: Path, key: Ed25519PrivateKey | X25519PrivateKey) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        os.chmod(path.parent, 0o700)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)

    def generate(self, purpose: str) -> PublicKeyInfo:
        key: Ed25519PrivateKey | X25519PrivateKey
        key = X25519PrivateKey.generate() if purpose == "encryption" else Ed25519PrivateKey.generate()
        key_id = new_key_id(purpose)
        self._write(self._path(purpose, key_id), key)
        return PublicKeyInfo(key_id=key_id, purpose=purpose, public_key=public_bytes_of(key))

    def _load(self, purpose: str, key_id: str) -> object:
        with self._lock:
            cached = self._loaded.get((purpose, key_id))
        if cached is not None:
            return cached
        path = self._path(purpose, key_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyNotFound(f"no {purpose} key {key_id}") from None
        key = serialization.load_pem_private_key(data, password=None)
        with self._lock:
            self._loaded[(purpose, key_id)] = key
        return key

    def signing_key(self, purpose: str, key_id: str) -> Ed25519PrivateKey:
        key = self._load(purpose, key_id)
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyNotFound(f"{key_id} is not an Ed25519 key")
        return key

    def encryption_key(self, key_id: str) -> X25519PrivateKey:
        key = self._load("encryption", key_id)
        if not isinstance(key, X25519PrivateKey):
            raise KeyNotFound(f"{key_id} is not an X25519 key")
        return key

    def public_keys(self) -> list[PublicKeyInfo]:
        out = []
        for purpose in (*PURPOSES, "root"):
            folder = self.root / purpose
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.pem")):
                key = self._load(purpose, path.stem)
                assert isinstance(key, Ed25519PrivateKey | X25519PrivateKey)
                out.append(PublicKeyInfo(key_id=path.stem, purpose=purpose, public_key=public_bytes_of(key)))
        return out


def node_key_provider(data_dir: Path, code: str) -> FileKeyProvider:
    return FileKeyProvider(data_dir / "keys" / code)


def root_key_provider(data_dir: Path) -> FileKeyProvider:
    """The national root key (in production kept offline; here under ``keys/root``)."""
    return FileKeyProvider(data_dir / "keys" / "root")
