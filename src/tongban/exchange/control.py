"""Pausing a node's relay, for the invariant checker (``tongban check``).

While the pause holds, the relay publishes no new message (rows never sent stay queued) but still re-sends
those already published, so that everything in flight can be received, applied and receipted; receipts and
the inbox worker are not paused. The checker then reads a cut in which nothing published is unaccounted for.

The switch is a row of ``exchange_control`` in the node's own database, so it works for a node running in
another process. The relay reads it at most every ``CACHE_S`` seconds: whoever sets the pause waits
``SETTLE_S`` before relying on it. The pause expires by itself (``until``).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from tongban.core.db import Database
from tongban.exchange.tables import ControlRow

RELAY_PAUSED = "relay_paused"
CACHE_S = 0.25
SETTLE_S = 2 * CACHE_S + 0.1


class _Sendable(Protocol):
    @property
    def attempts(self) -> int: ...


S = TypeVar("S", bound=_Sendable)
_cache: dict[int, tuple[float, datetime | None]] = {}


def pause_relay(db: Database, *, now: datetime, for_s: float, by: str) -> None:
    """Pause the relay of the node whose database is ``db`` until ``now + for_s`` (or an earlier resume)."""
    with db.transaction() as s:
        row = s.get(ControlRow, RELAY_PAUSED)
        until = now + timedelta(seconds=for_s)
        if row is None:
            s.add(ControlRow(name=RELAY_PAUSED, until=until, set_by=by[:64], set_at=now))
        else:
            row.until, row.set_by, row.set_at = until, by[:64], now


def resume_relay(db: Database) -> None:
    with db.transaction() as s:
        s.execute(delete(ControlRow).where(ControlRow.name == RELAY_PAUSED))


def paused_until(db: Database) -> datetime | None:
    with db.session() as s:
        return s.scalar(select(ControlRow.until).where(ControlRow.name == RELAY_PAUSED))


def _paused(ex: Any, now: datetime) -> bool:
    key = id(ex)
    tick = time.monotonic()
    cached = _cache.get(key)
    if cached is None or tick - cached[0] >= CACHE_S:
        try:
            until = paused_until(ex.node.db)
        except SQLAlchemyError:  # a database not migrated yet has no switch: never paused
            until = None
        cached = (tick, until)
        _cache[key] = cached
    until = cached[1]
    return until is not None and until > now


def hold_new(ex: Any, rows: list[S], now: datetime) -> list[S]:
    """The rows the relay may publish now: all of them, or while paused only those published before."""
    if not rows or not _paused(ex, now):
        return rows
    return [r for r in rows if r.attempts > 0]


def resend_now(db: Database, *, now: datetime) -> int:
    """Make every open outbox row due now (a re-send is byte-identical: the recipient's inbox recognises it).

    For the checker's drain of an embedded nation, where messages published to a transport that no longer
    exists would otherwise wait out their back-off."""
    from sqlalchemy import update

    from tongban.exchange import store
    from tongban.exchange.tables import OutboxRow

    with db.transaction() as s:
        result = s.execute(
            update(OutboxRow)
            .where(OutboxRow.state.in_((store.OUT_QUEUED, store.OUT_SENT)), OutboxRow.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
