"""Access records: every view of a person's record, written through a buffer committed in groups.

``record_view`` only appends to an in-memory buffer, so the read it records stays fast. A flusher thread
commits the buffer in groups every ``view_flush_interval_s`` seconds or as soon as ``view_batch`` records
wait. The buffer is bounded: when ``view_buffer_max`` records wait, the recording request flushes itself
(back-pressure) instead of dropping anything. ``flush()`` commits on demand; ``stop()`` commits what is
left, and the app calls it on shutdown, so a normal stop loses no record. A failed commit keeps its records
in the buffer to be retried.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from tongban.access import store
from tongban.access.domain import Principal
from tongban.access.tables import RecordView
from tongban.core.clock import Clock
from tongban.core.db import Database

log = logging.getLogger("tongban.access.views")

REASONS = ("case", "search", "own", "paper")


@dataclass(frozen=True)
class ViewRecord:
    at: datetime
    viewer_id: str
    viewer_role: str
    viewer_division: str | None
    viewer_office: str | None
    person_ref: str
    person_division: str | None
    reason: str
    reason_ref: str | None
    action: str


class ViewBuffer:
    """A node's buffer of access records and its flusher thread."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        interval_s: float = 1.0,
        batch: int = 200,
        max_pending: int = 10_000,
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval_s = interval_s
        self.batch = batch
        self.max_pending = max_pending
        self._pending: deque[ViewRecord] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushed = 0
        self.failures = 0
        _LIVE.add(self)

    def record(
        self,
        principal: Principal,
        *,
        person_ref: str,
        person_division: str | None,
        reason: str,
        reason_ref: str | None,
        action: str,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        rec = ViewRecord(
            at=self.clock.now(),
            viewer_id=principal.id,
            viewer_role=principal.role.value if principal.role else principal.kind.value,
            viewer_division=principal.division_code,
            viewer_office=principal.office_code,
            person_ref=person_ref,
            person_division=person_division,
            reason=reason,
            reason_ref=reason_ref,
            action=action,
        )
        with self._lock:
            self._pending.append(rec)
            size = len(self._pending)
        if size >= self.max_pending or (self._thread is None and size >= self.batch):
            self.flush()  # back-pressure: never drop, never grow without bound
        elif size >= self.batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Commit everything waiting now; returns how many records were committed."""
        total = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    group = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
                if not group:
                    return total
                try:
                    with self.db.transaction() as s:
                        store.add_views(s, [asdict(r) for r in group])
                except Exception:
                    with self._lock:
                        self._pending.extendleft(reversed(group))
                    self.failures += 1
                    raise
                total += len(group)
                self.flushed += len(group)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="access-view-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:
                log.error("committing access records failed, will retry: %s", type(exc).__name__)

    def stop(self) -> None:
        """Stop the flusher and commit what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, self.interval_s * 3))
            self._thread = None
        self.flush()


_LIVE: weakref.WeakSet[ViewBuffer] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:  # pragma: no cover - exercised by process exit
    for buf in list(_LIVE):
        try:
            buf.flush()
        except Exception as exc:
            log.error("access records left unflushed at exit: %s", type(exc).__name__)


def views_of_person(db: Database, *, person_ref: str, limit: int = 200) -> Sequence[RecordView]:
    with db.session() as s:
        rows = store.views(s, person_ref=person_ref, limit=limit)
        for r in rows:
            s.expunge(r)
        return rows


def views_in_scope(
    db: Database,
    *,
    division_prefix: str | None,
    viewer_office: str | None = None,
    person_ref: str | None = None,
    viewer_id: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[RecordView]:
    with db.session() as s:
        rows = store.views(
            s,
            division_prefix=division_prefix,
            viewer_office=viewer_office,
            person_ref=person_ref,
            viewer_id=viewer_id,
            limit=limit,
            offset=offset,
        )
        for r in rows:
            s.expunge(r)
        return rows
