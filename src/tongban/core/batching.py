"""Batch passes: writes a use case may hold back until the end of a pass over many items.

A batch of use cases in one transaction (the migration batches, for one) costs one statement per table for
the whole batch, not one per item, when nothing in a step has to reach the database before the next item:

- **Counters** (case numbers, paper numbers) are advanced once for the pass (``sequence_value``): the first
  number a pass asks of a counter reserves as many as the pass has items, in the one atomic upsert a single
  number takes; the numbers not used are given back when the pass ends. The counter's row stays locked by
  the upsert until the transaction ends, as with one number, so no other writer can take a number between,
  and the numbers of a committed batch have no gaps.
- **Deferred writes** (``defer``): a store queues what it would write (a compare-and-set update of a case, the
  case's new events) and writes the pass's queue in one statement when the pass ends, checking there what it
  would have checked at once (a compare-and-set that misses is a ``Conflict`` of the pass).

A pass that raises writes nothing of its queue and gives nothing back: the caller rolls back its savepoint,
and with it the counters' advance. A savepoint rolled back inside a pass (a step catching its own refusal)
would void part of what the pass reserved and queued, so the pass then fails at its end (``PassBroken``, a
``Conflict``) and the caller runs the items one at a time. Without a pass every store writes at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from tongban.core.errors import N_, Conflict

_KEY = "tongban.batch.pass"


@dataclass
class _Reserved:
    values: list[int]  # still to hand out, ascending
    give_back: Callable[[Session, int], None]


class PassBroken(Conflict):
    """A savepoint inside a batch pass rolled back: what the pass reserved or queued before it may be void."""


@dataclass
class BatchPass:
    """What a pass has reserved and deferred (in the session's ``info`` while the pass runs)."""

    size: int
    reserved: dict[Hashable, _Reserved] = field(default_factory=dict)
    # Deferred writes by kind, in the order their kinds were first deferred: (writer, items).
    deferred: dict[str, tuple[Callable[[Session, list[Any]], None], list[Any]]] = field(default_factory=dict)
    broken: bool = False
    # What a store read at once for the pass's items (e.g. which of its persons have a migration open),
    # by the store's own key: its later single reads in the pass are answered from it.
    read: dict[str, Any] = field(default_factory=dict)

    def finish(self, session: Session) -> None:
        if self.broken:
            # A savepoint rolled back inside the pass took its counters' advance with it, while the numbers
            # stayed reserved here and its queued writes stayed queued: nothing of the pass can be trusted.
            raise PassBroken(N_("A batch was interrupted by a rollback inside it; run it one item at a time"))
        for writer, items in self.deferred.values():
            writer(session, items)
        self.deferred.clear()
        for reserved in self.reserved.values():
            if reserved.values:
                reserved.give_back(session, len(reserved.values))
        self.reserved.clear()


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    current = active(session)
    if current is not None:
        current.broken = True


def active(session: Session) -> BatchPass | None:
    found = session.info.get(_KEY)
    return found if isinstance(found, BatchPass) else None


@contextmanager
def batch_pass(session: Session, size: int) -> Iterator[BatchPass]:
    """A pass over ``size`` items in ``session``: the deferred writes are written, and the unused reserved
    numbers given back, when the block ends normally (then the session's pending objects are flushed, one
    statement per table); on an exception nothing is written (roll back the savepoint around the pass)."""
    if active(session) is not None:
        raise RuntimeError("batch passes do not nest")
    current = BatchPass(size=max(1, size))
    session.info[_KEY] = current
    try:
        yield current
        current.finish(session)
        session.flush()
    finally:
        session.info.pop(_KEY, None)


def sequence_value(
    session: Session,
    key: Hashable,
    advance: Callable[[Session, int], int],
    give_back: Callable[[Session, int], None],
) -> int:
    """The next value of a counter: ``advance(session, n)`` moves the counter on by ``n`` atomically and
    returns its new last value; ``give_back(session, n)`` moves it back by ``n`` (only ever the last ``n``
    this pass reserved, while the pass's transaction still holds the counter's row)."""
    current = active(session)
    if current is None:
        return advance(session, 1)
    reserved = current.reserved.get(key)
    if reserved is None or not reserved.values:
        last = advance(session, current.size)
        reserved = current.reserved[key] = _Reserved(
            list(range(last - current.size + 1, last + 1)), give_back
        )
    return reserved.values.pop(0)


def defer(session: Session, kind: str, item: Any, writer: Callable[[Session, list[Any]], None]) -> bool:
    """Queue ``item`` for ``writer`` at the end of the session's pass; False (nothing queued) without a pass,
    when the caller writes at once."""
    current = active(session)
    if current is None:
        return False
    current.deferred.setdefault(kind, (writer, []))[1].append(item)
    return True
