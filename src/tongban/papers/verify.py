"""Verification of a paper in any form, and the revocation lists a verifier keeps.

``verify(data, resolver, revocations, at)`` takes the JSON form, the QR text, a QR image or the PDF and
returns a ``Verdict``; nothing here needs a database or a network. ``RevocationCache`` keeps the newest
verified revocation list of each issuer in a folder, and fetches them from issuers' public endpoints
(``GET /api/v1/papers/revocations/{issuer}``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tongban.core.errors import N_
from tongban.papers.domain import (
    PaperKeyResolver,
    RevocationList,
    RevocationListRefused,
    Revocations,
    SignedPaper,
    Verdict,
    invalid,
    verify_paper,
    verify_papers,
    verify_revocation_list,
)
from tongban.papers.forms import (
    UnreadablePaper,
    read_any,
    revocations_from_json_bytes,
    revocations_to_json_bytes,
)

log = logging.getLogger("tongban.papers")


def verify(
    data: bytes | str, resolver: PaperKeyResolver, revocations: Revocations | None, at: datetime
) -> Verdict:
    """Valid, expired, revoked or invalid, and why, for a paper as JSON, QR text, QR image or PDF bytes."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        signed = read_any(raw)
    except UnreadablePaper:
        return invalid("unreadable", N_("No tongban paper could be read from this input."))
    return verify_paper(signed, resolver, revocations, at)


def verify_many(
    items: Iterable[bytes | str], resolver: PaperKeyResolver, revocations: Revocations | None, at: datetime
) -> list[Verdict]:
    """``verify`` of many papers: the same verdicts, in order; each step is taken for all of them before the next
    (see ``verify_papers``), which is faster in bulk."""
    read: list[SignedPaper | Verdict] = []
    for data in items:
        try:
            read.append(read_any(data.encode("utf-8") if isinstance(data, str) else data))
        except UnreadablePaper:
            read.append(invalid("unreadable", N_("No tongban paper could be read from this input.")))
    return verify_papers(read, resolver, revocations, at)


def load_revocation_files(paths: Iterable[Path], resolver: PaperKeyResolver) -> Revocations:
    """Revocation lists from files (as served by issuers); each is verified, the newest per issuer kept."""
    revocations = Revocations()
    for path in paths:
        signed = revocations_from_json_bytes(path.read_bytes())
        revocations.add(verify_revocation_list(signed, resolver))
    return revocations


class RevocationCache:
    """The newest verified revocation list per issuer, kept as ``<folder>/<issuer>.json``, with when it was
    last known to be the issuer's newest in ``<folder>/<issuer>.as-of`` (an RFC 3339 time)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _as_of(self, issuer: str) -> datetime | None:
        try:
            text = (self.folder / f"{issuer}.as-of").read_text(encoding="ascii").strip()
            return datetime.fromisoformat(text)
        except (FileNotFoundError, ValueError):
            return None

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.folder / name)

    def load(self, resolver: PaperKeyResolver, into: Revocations | None = None) -> Revocations:
        revocations = into if into is not None else Revocations()
        if not self.folder.exists():
            return revocations
        for path in sorted(self.folder.glob("*.json")):
            try:
                signed = revocations_from_json_bytes(path.read_bytes())
                rl = verify_revocation_list(signed, resolver, issuer=path.stem)
                revocations.add(rl, checked_at=self._as_of(path.stem))
            except (UnreadablePaper, RevocationListRefused) as exc:
                log.warning("ignoring cached revocation list %s: %s", path.name, exc)
        return revocations

    def offer(
        self, data: bytes, resolver: PaperKeyResolver, *, issuer: str, at: datetime | None = None
    ) -> tuple[RevocationList, str]:
        """Verify a list (raises ``RevocationListRefused``: forged, unknown key, another issuer's) and keep it
        when it is newer than the one held. Returns the list now held and ``newer``, ``same`` or ``older``
        (an older serial never replaces a newer one). ``at``: when the list was known to be the issuer's
        newest (recorded for ``newer`` and ``same``)."""
        fetched = verify_revocation_list(revocations_from_json_bytes(data), resolver, issuer=issuer)
        held = self.load(resolver).lists.get(issuer)
        if held is not None and held.serial > fetched.serial:
            return held, "older"
        outcome = "same" if held is not None and held.serial == fetched.serial else "newer"
        if outcome == "newer":
            self._write(f"{issuer}.json", revocations_to_json_bytes(fetched.signed))
        if at is not None:
            previous = self._as_of(issuer)
            if outcome == "newer" or previous is None or at > previous:
                self._write(f"{issuer}.as-of", at.isoformat().encode("ascii"))
        return (fetched if outcome == "newer" or held is None else held), outcome

    def accept(
        self, data: bytes, resolver: PaperKeyResolver, *, issuer: str, at: datetime | None = None
    ) -> RevocationList:
        """Verify a fetched list; keep it when it is newer than the cached one. Returns the list now held."""
        return self.offer(data, resolver, issuer=issuer, at=at)[0]

    def fetch(
        self,
        base_url: str,
        issuer: str,
        resolver: PaperKeyResolver,
        *,
        timeout_s: float = 10.0,
        client: httpx.Client | None = None,
    ) -> RevocationList:
        """GET the issuer's list from a node, verify it, keep it if newer (raises on HTTP or signature errors)."""
        url = f"{base_url.rstrip('/')}/api/v1/papers/revocations/{issuer}"
        # A given client brings its own timeouts.
        response = client.get(url) if client is not None else httpx.get(url, timeout=timeout_s)
        response.raise_for_status()
        return self.accept(response.content, resolver, issuer=issuer, at=datetime.now(UTC))
