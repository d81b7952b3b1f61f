"""The storage rules of the design hold on both backends: UTC times, write transactions, timeouts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from tongban.core.db import Database, UTCDateTime

scratch = sa.Table(
    "scratch_times",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)


def test_times_round_trip_in_utc_with_their_zone(database: Database) -> None:
    scratch.create(database.engine)
    shanghai = timezone(timedelta(hours=8))
    local = datetime(2026, 1, 1, 8, 30, 0, 123456, tzinfo=shanghai)
    with database.transaction() as s:
        s.execute(scratch.insert().values(id=1, at=local))
        s.execute(scratch.insert().values(id=2, at=local + timedelta(seconds=1)))
    with database.session() as s:
        rows = s.execute(sa.select(scratch.c.at).order_by(scratch.c.at)).scalars().all()
        later = s.execute(sa.select(scratch.c.id).where(scratch.c.at > local)).scalars().all()
    assert rows[0] == datetime(2026, 1, 1, 0, 30, 0, 123456, tzinfo=UTC)
    assert rows[0].tzinfo is not None and rows[0].utcoffset() == timedelta(0)
    assert later == [2]


def test_naive_times_are_refused(database: Database) -> None:
    scratch.create(database.engine)
    with pytest.raises(sa.exc.StatementError), database.transaction() as s:
        s.execute(scratch.insert().values(id=1, at=datetime(2026, 1, 1)))


def test_a_failing_unit_of_work_leaves_nothing(database: Database) -> None:
    scratch.create(database.engine)
    with pytest.raises(RuntimeError), database.transaction() as s:
        s.execute(scratch.insert().values(id=1, at=datetime.now(UTC)))
        raise RuntimeError("boom")
    with database.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(scratch)).scalar_one() == 0


def test_concurrent_writers_serialise_without_lost_updates(database: Database) -> None:
    counter = sa.Table(
        "scratch_counter",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    counter.create(database.engine)
    with database.transaction() as s:
        s.execute(counter.insert().values(id=1, n=0))
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(20):
                with database.transaction() as s:
                    # Read then write: on SQLite BEGIN IMMEDIATE makes this safe, on PostgreSQL FOR UPDATE.
                    q = sa.select(counter.c.n).where(counter.c.id == 1)
                    if database.backend == "postgresql":
                        q = q.with_for_update()
                    n = s.execute(q).scalar_one()
                    s.execute(counter.update().where(counter.c.id == 1).values(n=n + 1))
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with database.session() as s:
        assert s.execute(sa.select(counter.c.n)).scalar_one() == 80


def test_postgresql_sessions_carry_the_timeouts(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        with db.session() as s:
            assert s.execute(sa.text("SHOW lock_timeout")).scalar_one() != "0"
            assert s.execute(sa.text("SHOW idle_in_transaction_session_timeout")).scalar_one() != "0"
            assert s.execute(sa.text("SHOW timezone")).scalar_one() == "UTC"
    finally:
        db.dispose()
