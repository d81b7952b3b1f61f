"""Paper keys and verification material for the nodes a process serves.

Until the national directory carries paper keys, each node's paper key lives in a ``FileKeyStore`` under
``<data_dir>/paper-keys`` (created for a served node that has none), and verifiers read the public key list
beside it. Fetched revocation lists of other issuers are cached in ``<data_dir>/paper-revocations``.
"""

from __future__ import annotations

from pathlib import Path

from tongban.core.settings import Settings
from tongban.papers.domain import PaperKey, Revocations
from tongban.papers.keys import FileKeyStore, StaticKeyResolver
from tongban.papers.service import KEYS_SERVICE, local_revocations
from tongban.papers.verify import RevocationCache
from tongban.web.app import Runtime

RESOLVER = "papers.resolver"
KEYSTORE = "papers.keystore"


def key_dir(settings: Settings) -> Path:
    return settings.data_dir / "paper-keys"


def revocation_dir(settings: Settings) -> Path:
    return settings.data_dir / "paper-revocations"


class ReloadingResolver:
    """The public paper key list of a file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._resolver = StaticKeyResolver()

    def _current(self) -> StaticKeyResolver:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return StaticKeyResolver()
        stamp = (stat.st_mtime, stat.st_size)
        if stamp != self._stamp:
            self._resolver = StaticKeyResolver.from_file(self.path)
            self._stamp = stamp
        return self._resolver

    def paper_key(self, issuer: str, key_id: str) -> PaperKey | None:
        return self._current().paper_key(issuer, key_id)


def attach(runtime: Runtime) -> None:
    store = FileKeyStore(key_dir(runtime.settings))
    for node in runtime.nodes.values():
        now = node.clock.now()
        if store.current_signer(node.code, now) is None:
            store.create(node.code, not_before=now)
        node.services[KEYS_SERVICE] = store
    runtime.extras[KEYSTORE] = store
    runtime.extras[RESOLVER] = ReloadingResolver(store.public_list)


def resolver_of(runtime: Runtime) -> ReloadingResolver:
    found = runtime.extras.get(RESOLVER)
    if not isinstance(found, ReloadingResolver):
        found = ReloadingResolver(FileKeyStore(key_dir(runtime.settings)).public_list)
        runtime.extras[RESOLVER] = found
    return found


def revocations_of(runtime: Runtime) -> Revocations:
    """Cached lists of other issuers, then the served nodes' own lists (read from their databases)."""
    resolver = resolver_of(runtime)
    revocations = RevocationCache(revocation_dir(runtime.settings)).load(resolver)
    for node in runtime.nodes.values():
        with node.db.session() as s:
            own = local_revocations(s, issuer=node.code, resolver=resolver)
        if own is not None:
            revocations.add(own)
    return revocations
