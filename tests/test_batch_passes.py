"""Batch passes (``core.batching``): a pass reserves its numbers in one advance of a counter and gives back
what it did not use, so committed numbers have no gaps; a pass that fails or is broken by a rollback inside
it writes nothing of what it queued."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tongban.core import batching
from tongban.core.db import Database
from tongban.papers import store
from tongban.papers.tables import PaperCounterRow


def _last(db: Database) -> int | None:
    with db.session() as s:
        return s.scalar(select(PaperCounterRow.last).where(PaperCounterRow.issuer == "110000"))


def _next(s: Any) -> int:
    return store.next_sequence(s, issuer="110000", prefix="QY", year=2026)


def test_a_pass_reserves_once_and_gives_back_what_it_did_not_use(database: Database) -> None:
    with database.transaction() as s:
        assert _next(s) == 1
    with database.transaction() as s:
        with batching.batch_pass(s, 5) as current:
            got = [_next(s) for _ in range(3)]
            assert [r.values for r in current.reserved.values()] == [[5, 6]]  # one advance, by 5
        assert got == [2, 3, 4]
    assert _last(database) == 4  # 5 and 6 were given back
    with database.transaction() as s:
        assert _next(s) == 5


def test_a_pass_longer_than_its_reservation_reserves_again(database: Database) -> None:
    with database.transaction() as s, batching.batch_pass(s, 2):
        got = [_next(s) for _ in range(5)]
    assert got == [1, 2, 3, 4, 5]
    assert _last(database) == 5


def test_a_failed_pass_takes_its_numbers_back_with_its_savepoint(database: Database) -> None:
    with database.transaction() as s:
        with pytest.raises(RuntimeError), s.begin_nested(), batching.batch_pass(s, 10):
            _next(s)
            raise RuntimeError("a step failed")
        assert batching.active(s) is None
        assert _next(s) == 1  # outside any pass: one number, none lost to the failed pass
    assert _last(database) == 1


def test_a_rollback_inside_a_pass_breaks_it_and_nothing_queued_is_written(database: Database) -> None:
    written: list[list[Any]] = []
    with database.transaction() as s:
        with pytest.raises(batching.PassBroken), s.begin_nested(), batching.batch_pass(s, 10):
            assert batching.defer(s, "test", 1, lambda _s, items: written.append(items))
            _next(s)
            try:
                with s.begin_nested():
                    _next(s)  # reserved before: the counter's advance is not undone here ...
                    raise ValueError("a step refused on its own savepoint")
            except ValueError:
                pass
        assert written == []
    assert _last(database) is None  # ... but the pass failed and its savepoint took everything back


def test_without_a_pass_nothing_is_deferred(database: Database) -> None:
    with database.transaction() as s:
        assert not batching.defer(s, "test", 1, lambda _s, _items: None)
        assert [_next(s), _next(s)] == [1, 2]
