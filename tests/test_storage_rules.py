"""The storage rules of the design hold on both backends: UTC times, write transactions, timeouts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

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


def test_sqlite_writers_of_one_process_share_one_queue_per_file(tmp_path: Path) -> None:
    """Every Database on one SQLite file shares the process's writer lock (another file has its own;
    PostgreSQL and in-memory databases have none)."""
    url = f"sqlite:///{tmp_path / 'node.sqlite3'}"
    a, b = Database(url), Database(f"sqlite:///{tmp_path / '.' / 'node.sqlite3'}")
    other = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    pg = Database("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")  # no connection is made
    try:
        assert a._writer_lock is not None and a._writer_lock is b._writer_lock
        assert other._writer_lock is not None and other._writer_lock is not a._writer_lock
        assert pg._writer_lock is None and Database("sqlite://")._writer_lock is None
    finally:
        for db in (a, b, other, pg):
            db.dispose()


def test_a_sqlite_writer_waits_for_the_one_before_it_and_sees_its_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'node.sqlite3'}")
    scratch.create(db.engine)
    lock = db._writer_lock
    assert lock is not None
    first_in, first_may_commit, second_done = threading.Event(), threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with db.transaction() as s:
            s.execute(scratch.insert().values(id=1, at=datetime.now(UTC)))
            first_in.set()
            first_may_commit.wait(10)

    def second() -> None:
        first_in.wait(10)
        with db.transaction() as s:
            seen.extend(s.execute(sa.select(scratch.c.id)).scalars())
            s.execute(scratch.insert().values(id=2, at=datetime.now(UTC)))
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert first_in.wait(10)
    assert lock.locked() and not second_done.is_set()  # the second is queued behind the first
    first_may_commit.set()
    for t in threads:
        t.join(10)
    assert second_done.is_set() and seen == [1]  # it began after the first had committed
    assert not lock.locked()
    # A writer that fails releases the queue as well.
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        s.execute(scratch.insert().values(id=1, at=datetime.now(UTC)))
    assert not lock.locked()
    with db.transaction() as s:
        s.execute(scratch.insert().values(id=3, at=datetime.now(UTC)))
    db.dispose()
