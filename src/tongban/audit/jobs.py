"""The sealer: links committed audit rows into the node's hash chain, in batches.

Writers only insert rows (``service.record_audit``); they never read or lock the chain head. The sealer,
one per node, takes the oldest unsealed committed rows, gives them the next chain positions, the previous
hash and their own hash, and appends a seal checkpoint, all in one transaction. Two sealers racing on one
database cannot both win: chain positions and seal positions are unique, so the loser's transaction fails
and it simply tries again at its next tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError, OperationalError

from tongban.audit import domain, store
from tongban.audit.tables import AuditRow, AuditSeal
from tongban.core.clock import Clock
from tongban.core.db import Database

log = logging.getLogger("tongban.audit.sealer")


def content_of(row: AuditRow) -> domain.RowContent:
    if row.chain_pos is None or row.sealed_at is None:
        raise ValueError("row is not sealed")
    return domain.RowContent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        change_digest=row.change_digest,
        change_salt=row.change_salt,
        change_summary=row.change_summary,
        chain_pos=row.chain_pos,
        sealed_at=row.sealed_at,
    )


def seal_batch(db: Database, *, now: datetime, batch_size: int = 500) -> int:
    """Seal up to ``batch_size`` committed rows; returns how many were sealed (0 = nothing pending)."""
    with db.transaction() as s:
        rows = store.unsealed(s, batch_size)
        if not rows:
            return 0
        last = store.last_sealed(s)
        pos = last.chain_pos if last is not None and last.chain_pos is not None else 0
        prev = last.row_hash if last is not None and last.row_hash else domain.GENESIS
        first = pos + 1
        for row in rows:
            pos += 1
            row.chain_pos = pos
            row.sealed_at = now
            row.prev_hash = prev
            row.row_hash = domain.row_hash(content_of(row), prev)
            prev = row.row_hash
        s.flush()
        store.add_seal(s, AuditSeal(sealed_at=now, first_pos=first, last_pos=pos, head_hash=prev))
        return len(rows)


def seal_pending(db: Database, *, clock: Clock, batch_size: int = 500, max_batches: int = 1000) -> int:
    """Seal everything pending now (batch after batch); returns the number of rows sealed."""
    total = 0
    for _ in range(max_batches):
        n = seal_batch(db, now=clock.now(), batch_size=batch_size)
        total += n
        if n < batch_size:
            break
    return total


def current_head(db: Database, *, node: str) -> domain.ChainHead:
    """The node's current sealed chain head, ready to be signed and sent to peers.

    This is what the exchange will publish at intervals (``ChainHead.statement()`` gives the bytes to sign);
    a peer that keeps the heads it received can later show that a node rewrote its own history, which the
    checks inside one database cannot (whoever can rewrite every row can also recompute every hash).
    """
    with db.session() as s:
        seal = store.latest_seal(s)
        if seal is None:
            return domain.ChainHead(node=node, pos=0, hash=domain.GENESIS, sealed_at=None)
        return domain.ChainHead(node=node, pos=seal.last_pos, hash=seal.head_hash, sealed_at=seal.sealed_at)


class Sealer:
    """A background thread sealing a node's audit rows every ``interval_s`` seconds."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        interval_s: float = 2.0,
        batch_size: int = 500,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.on_error = on_error
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)
        self._thread.start()

    def seal_now(self) -> int:
        """Seal what is pending, in the caller's thread (serialised with the background thread)."""
        with self._lock:
            return seal_pending(self.db, clock=self.clock, batch_size=self.batch_size)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.seal_now()
            except (IntegrityError, OperationalError) as exc:
                # Another sealer won the race, or the database is busy: try again at the next tick.
                log.warning("audit sealing deferred: %s", type(exc).__name__)
            except Exception as exc:
                log.error("audit sealing failed: %s", type(exc).__name__)
                if self.on_error is not None:
                    self.on_error(exc)
            self._wake.wait(self.interval_s)
            self._wake.clear()

    def stop(self, *, final_seal: bool = True) -> None:
        """Stop the thread; by default seal what is still pending first."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval_s * 2))
            self._thread = None
        if final_seal:
            self.seal_now()
