"""The adapter between papers and the national directory (``tongban.exchange.directory``).

``DirectoryKeyResolver`` gives verifiers the issuers' ``papers`` keys from a verified directory document (the
directory's rule for signatures over time is the papers rule: see ``PaperKey.refusal_at``). An unknown key id
makes it re-read the directory once, as the design asks. ``DirectorySignerSource`` gives an issuing node its
current paper key from the directory and its private half from the exchange's file key provider.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tongban.exchange.directory import (
    DIRECTORY_FILE,
    Directory,
    DirectoryHolder,
    DirectoryRefused,
    NodeKey,
    RootKey,
    load_directory,
    read_roots,
)
from tongban.exchange.keys import KeyNotFound, node_key_provider, unb64
from tongban.papers.domain import PaperKey
from tongban.papers.keys import Ed25519Signer

PURPOSE = "papers"


def paper_key_of(issuer: str, key: NodeKey) -> PaperKey:
    return PaperKey(
        issuer=issuer,
        key_id=key.key_id,
        public_key=key.public_key,
        not_before=key.not_before,
        not_after=key.not_after,
        revoked_at=key.revoked_at,
        revocation_reason=None if key.revocation_reason is None else str(key.revocation_reason),
        algorithm=key.alg,
    )


class DirectoryKeyResolver:
    """Paper keys from a directory (fixed, or held and refreshed by a ``DirectoryHolder``)."""

    def __init__(self, source: Directory | DirectoryHolder) -> None:
        self._source = source
        self._seen: Directory | None = None
        self._keys: dict[tuple[str, str], PaperKey] = {}

    def _directory(self) -> Directory:
        return self._source.current if isinstance(self._source, DirectoryHolder) else self._source

    def _index(self, directory: Directory) -> dict[tuple[str, str], PaperKey]:
        if directory is not self._seen:
            self._keys = {
                (node.code, key.key_id): paper_key_of(node.code, key)
                for node in directory.nodes
                for key in node.keys
                if key.purpose == PURPOSE
            }
            self._seen = directory
        return self._keys

    def paper_key(self, issuer: str, key_id: str) -> PaperKey | None:
        found = self._index(self._directory()).get((issuer, key_id))
        if found is None and isinstance(self._source, DirectoryHolder):
            # An unknown key of a known issuer: the directory may have moved on since it was read.
            directory = self._directory()
            if directory.node(issuer) is not None:
                found = self._index(self._source.refresh()).get((issuer, key_id))
        return found

    def issuer_name(self, issuer: str) -> str | None:
        node = self._directory().node(issuer)
        return None if node is None else node.name


class DirectorySignerSource:
    """An issuing node's current paper key: chosen by the directory, private half from the key provider."""

    def __init__(self, holder: DirectoryHolder, data_dir: Path) -> None:
        self.holder = holder
        self.data_dir = data_dir
        # Private halves by (issuer, key id): a key id's private half never changes. Which key may sign is
        # asked of the directory at every paper.
        self._private: dict[tuple[str, str], Ed25519PrivateKey] = {}

    def current_signer(self, issuer: str, at: datetime) -> Ed25519Signer | None:
        # Re-read first: a paper must never be signed with a key the directory has since revoked.
        node = self.holder.refresh().node(issuer)
        key = node.current_key(PURPOSE, at) if node is not None else None
        if key is None:
            return None
        private = self._private.get((issuer, key.key_id))
        if private is None:
            try:
                private = node_key_provider(self.data_dir, issuer).signing_key(PURPOSE, key.key_id)
            except KeyNotFound:
                return None
            self._private[(issuer, key.key_id)] = private
        return Ed25519Signer(key.key_id, private, key.alg)


def has_directory(data_dir: Path) -> bool:
    return (data_dir / DIRECTORY_FILE).exists()


def read_roots_file(path: Path) -> list[RootKey]:
    """Trusted national root keys from a ``directory-roots.json`` file."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [RootKey(key_id=str(r["key_id"]), public_key=unb64(str(r["public_key"]))) for r in raw]


def load_directory_file(path: Path, *, roots_file: Path | None, at: datetime, grace: timedelta) -> Directory:
    """A signed directory file, verified against the trusted root keys (default: ``directory-roots.json``
    beside it). Raises ``DirectoryRefused``."""
    roots = read_roots_file(roots_file) if roots_file is not None else read_roots(path.parent)
    return load_directory(path.read_bytes(), roots=roots, now=at, grace=grace)


__all__ = [
    "DirectoryKeyResolver",
    "DirectoryRefused",
    "DirectorySignerSource",
    "has_directory",
    "load_directory_file",
    "paper_key_of",
    "read_roots_file",
]
