"""Issuers' revocation lists carried over the exchange to the verifiers of other nodes.

Why the exchange rather than HTTP: nodes already talk only through it, it has every node's address and key in
the directory, it delivers at least once with receipts and re-sends, and a node needs no HTTP client, no URL
of its peers and no open port towards them. (Offline verifiers keep ``tongban cert revocations fetch URL``
against the issuer's public endpoint.)

- **Push on change**: whenever an issuer signs a new list (its first paper, every revocation), it enqueues
  ``papers.revocations.v1`` to every other node of the directory, in the same transaction.
- **Pull on a schedule**: ``RevocationPuller`` (started by ``serve``) sends ``papers.revocations.pull.v1`` to
  every other node every ``TONGBAN_PAPERS_REVOCATION_PULL_INTERVAL_S``; the issuer answers with its current
  list. That catches what a push missed and tells the verifier its list is still the newest.

The receiving node verifies the list against the issuer's paper key from the directory (the signature is the
issuer's, end to end: the exchange's envelope signature only says which node sent it), and keeps it in the
process's cache (``<data_dir>/paper-revocations``) only when its serial is newer; a forged list or one of
another issuer is refused and recorded in the audit log, an older serial never replaces a newer one. The
time of the envelope that carried a current list is recorded as the list's "as of".

Revocation lists name paper numbers and reasons only, no person: the bodies travel signed, not encrypted.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.core.node import NodeContext
from tongban.exchange.domain import types
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.service import Incoming, enqueue, exchange_of, register_handler
from tongban.papers import store
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import RevocationListRefused, SignedPaper
from tongban.papers.forms import revocations_to_json_bytes
from tongban.papers.verify import RevocationCache

log = logging.getLogger("tongban.papers.revocations")

LIST_TYPE = "papers.revocations.v1"
PULL_TYPE = "papers.revocations.pull.v1"
ACTOR = "system:revocation-sync"


class RevocationListBody(BaseModel):
    """``papers.revocations.v1``: an issuer's signed list, in its JSON wrapping (as served over HTTP)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(pattern=r"^\d{6}$")
    list: str = Field(min_length=1, max_length=400_000)


class RevocationPull(BaseModel):
    """``papers.revocations.pull.v1``: "send me your current revocation list"."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(pattern=r"^\d{6}$")


def cache_of(node: NodeContext) -> RevocationCache:
    return RevocationCache(node.settings.data_dir / "paper-revocations")


def _peers(node: NodeContext) -> list[str]:
    """The other issuing nodes (the national locator issues and verifies no papers)."""
    return sorted(
        n.code for n in exchange_of(node).directory.current.nodes if n.code not in (node.code, LOCATOR_CODE)
    )


def _body(issuer: str, signed: SignedPaper) -> dict[str, Any]:
    return {"issuer": issuer, "list": revocations_to_json_bytes(signed).decode("utf-8")}


def push(session: Session, *, node: NodeContext, signed: SignedPaper) -> int:
    """Send the node's newly signed list to every other node, in the caller's transaction (no exchange: 0)."""
    if "exchange" not in node.services:
        return 0
    sent = 0
    for peer in _peers(node):
        try:
            enqueue(session, node=node, recipient=peer, type=LIST_TYPE, body=_body(node.code, signed))
            sent += 1
        except LookupError as exc:  # no usable envelope key now: the revocation stands, the pull catches up
            log.warning("revocation list of %s not pushed to %s: %s", node.code, peer, exc)
    return sent


def pull(node: NodeContext, *, issuers: list[str] | None = None) -> int:
    """Ask the other issuers for their current lists (one transaction); returns how many were asked."""
    targets = _peers(node) if issuers is None else issuers
    with node.db.transaction() as s:
        for issuer in targets:
            enqueue(s, node=node, recipient=issuer, type=PULL_TYPE, body={"issuer": issuer})
    return len(targets)


def apply_list(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """A list arrived: verify it against the issuer's paper key; keep it when newer; refuse a forgery."""
    body = incoming.message
    assert isinstance(body, RevocationListBody)
    env = incoming.envelope
    now = node.clock.now()
    change: dict[str, Any] = {"issuer": body.issuer, "sender": env.sender}
    if body.issuer != env.sender:
        change["outcome"], change["reason_code"] = "refused", "not-the-issuer"
    else:
        resolver = DirectoryKeyResolver(exchange_of(node).directory)
        try:
            held, outcome = cache_of(node).offer(
                body.list.encode("utf-8"), resolver, issuer=body.issuer, at=env.created_at
            )
            change["outcome"], change["serial"] = outcome, held.serial
        except RevocationListRefused as exc:
            change["outcome"], change["reason_code"] = "refused", exc.reason
        except ValueError:  # unreadable wrapping
            change["outcome"], change["reason_code"] = "refused", "malformed"
    if change["outcome"] in ("refused", "older"):
        log.warning(
            "revocation list of %s from %s: %s", body.issuer, env.sender, change.get("reason_code", "older")
        )
    if change["outcome"] != "same":
        record_audit(
            session,
            actor=f"node:{env.sender}",
            action="papers.revocations.receive",
            object_type="revocation-list",
            object_id=body.issuer,
            change=change,
            at=now,
        )


def apply_pull(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """Someone asks for this node's list: answer with the current one (nothing before the first paper)."""
    ask = incoming.message
    assert isinstance(ask, RevocationPull)
    if ask.issuer != node.code:
        return
    row = store.latest_revocation_list(session, issuer=node.code)
    if row is None:
        return
    enqueue(
        session,
        node=node,
        recipient=incoming.envelope.sender,
        type=LIST_TYPE,
        body=_body(node.code, store.signed_of(row)),
    )


class RevocationPuller:
    """A thread asking the other issuers for their lists every ``interval_s`` seconds, until stopped.

    In a process serving several nodes one of them asks (the cache is the process's); the served nodes'
    own lists are read from their databases.
    """

    def __init__(self, nodes: list[NodeContext], interval_s: float) -> None:
        self.nodes = nodes
        self.interval_s = interval_s
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pull_once(self) -> int:
        asker = next((n for n in self.nodes if "exchange" in n.services), None)
        if asker is None:
            return 0
        served = {n.code for n in self.nodes}
        return pull(asker, issuers=[c for c in _peers(asker) if c not in served])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pull_once()
            except Exception as exc:
                log.warning("revocation pull failed: %s", type(exc).__name__)
            self.passes += 1
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="papers-revocation-pull", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


types.register(LIST_TYPE, RevocationListBody, personal=False)
types.register(PULL_TYPE, RevocationPull, personal=False)
register_handler(LIST_TYPE, apply_list)
register_handler(PULL_TYPE, apply_pull)
