"""Paper keys and verification material for the nodes a process serves.

Until the national directory carries paper keys, each node's paper key lives in a ``FileKeyStore`` under
``<data_dir>/paper-keys`` (created for a served node that has none), and verifiers read the public key list
beside it. Fetched revocation lists of other issuers are cached in ``<data_dir>/paper-revocations``.
"""

from __future__ import annotations

import atexit
from datetime import timedelta
from pathlib import Path

from tongban.core.clock import SystemClock
from tongban.core.settings import Settings
from tongban.exchange.directory import DirectoryHolder
from tongban.exchange.settings import ExchangeSettings
from tongban.papers.directory import DirectoryKeyResolver, DirectorySignerSource, has_directory
from tongban.papers.domain import PaperKey, PaperKeyResolver, RevocationListRefused, Revocations
from tongban.papers.keys import FileKeyStore, StaticKeyResolver
from tongban.papers.revocation_sync import RevocationPuller
from tongban.papers.service import KEYS_SERVICE, local_revocations
from tongban.papers.settings import PapersSettings
from tongban.papers.verify import RevocationCache
from tongban.web.app import Runtime

RESOLVER = "papers.resolver"
KEYSTORE = "papers.keystore"
PULLER = "papers.revocation_puller"
SETTINGS = "papers_settings"


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
    """Paper signers and key resolver (below), and the periodic pull of other issuers' revocation lists
    over the exchange (when the nodes have one: the exchange's runtime attaches before this one)."""
    _attach_keys(runtime)
    settings: PapersSettings = runtime.extras.get(SETTINGS) or PapersSettings()
    served = [n for n in runtime.nodes.values() if "exchange" in n.services]
    if settings.revocation_pull_interval_s > 0 and served and PULLER not in runtime.extras:
        puller = RevocationPuller(list(runtime.nodes.values()), settings.revocation_pull_interval_s)
        runtime.extras[PULLER] = puller
        puller.start()
        atexit.register(puller.stop)


def detach(runtime: Runtime) -> None:
    """Stop the revocation pull (the app's shutdown)."""
    puller = runtime.extras.pop(PULLER, None)
    if isinstance(puller, RevocationPuller):
        puller.stop()


def _attach_keys(runtime: Runtime) -> None:
    """Give each served node its paper signer and the process a resolver of issuers' paper keys.

    With a national directory in the data dir (``tongban directory init``), keys come from it and from the
    exchange's key provider. Without one (a single-node development data dir), a local ``FileKeyStore``
    stands in, creating a paper key for a served node that has none.
    """
    settings = runtime.settings
    if has_directory(settings.data_dir):
        holder = DirectoryHolder(
            settings.data_dir,
            grace=timedelta(seconds=ExchangeSettings().directory_grace_s),
            clock=SystemClock(),
        )
        signers = DirectorySignerSource(holder, settings.data_dir)
        for node in runtime.nodes.values():
            node.services[KEYS_SERVICE] = signers
        runtime.extras[RESOLVER] = DirectoryKeyResolver(holder)
        return
    store = FileKeyStore(key_dir(settings))
    for node in runtime.nodes.values():
        now = node.clock.now()
        if store.current_signer(node.code, now) is None:
            store.create(node.code, not_before=now)
        node.services[KEYS_SERVICE] = store
    runtime.extras[KEYSTORE] = store
    runtime.extras[RESOLVER] = ReloadingResolver(store.public_list)


def resolver_of(runtime: Runtime) -> PaperKeyResolver:
    found = runtime.extras.get(RESOLVER)
    if found is None:
        _attach_keys(runtime)
        found = runtime.extras[RESOLVER]
    resolver: PaperKeyResolver = found
    return resolver


def issuer_name(runtime: Runtime, issuer: str) -> str | None:
    """The issuer's name from the directory, or from the nodes served here."""
    resolver = runtime.extras.get(RESOLVER)
    if isinstance(resolver, DirectoryKeyResolver):
        name = resolver.issuer_name(issuer)
        if name:
            return name
    node = runtime.nodes.get(issuer)
    return None if node is None else node.name


def revocations_of(runtime: Runtime) -> Revocations:
    """Cached lists of other issuers, then the served nodes' own lists (read from their databases)."""
    resolver = resolver_of(runtime)
    revocations = RevocationCache(revocation_dir(runtime.settings)).load(resolver)
    for node in runtime.nodes.values():
        with node.db.session() as s:
            try:
                own = local_revocations(s, issuer=node.code, resolver=resolver)
            except RevocationListRefused:
                own = None
        if own is not None:
            revocations.add(own)
    return revocations
