"""Storage: one database per node, SQLite or PostgreSQL from the same code.

SQLite: one writer process per node file; transactions that write start with ``BEGIN IMMEDIATE`` so two
writers never deadlock on a lock upgrade; WAL journal; foreign keys on. Writers of one process queue for a
file on a lock of the process (``_writer_lock``) before SQLite's own: SQLite's busy handler polls a held lock
with sleeps of up to 100 ms, while a thread waiting on the process's lock starts as soon as the writer before
it has committed. PostgreSQL: ``lock_timeout`` and
``idle_in_transaction_session_timeout`` set on every connection. Times are stored in UTC with their zone.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, String, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine

from tongban.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table of every capability (one metadata, one schema per node)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored in UTC.

    PostgreSQL: ``timestamptz``. SQLite: a fixed-width ISO 8601 text with its ``+00:00`` zone, so that text
    order is time order and the zone is never lost. Naive datetimes are refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: times must carry their zone")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (microseconds always written); isoformat is several times
            # cheaper than strftime, and every stored time of every row goes through here.
            return value.isoformat(timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):  # pragma: no cover - a driver bug
            raise TypeError(f"unexpected stored time {type(value).__name__}")
        stored: datetime = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


_WRITE = "tongban_write"


def _install_sqlite_hooks(engine: Engine, busy_timeout_s: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own handling is off).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def create_db_engine(url: str, settings: Settings | None = None) -> Engine:
    """An engine for one node's database, with the storage rules of the design applied."""
    settings = settings or Settings()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_s}
        )
        _install_sqlite_hooks(engine, settings.sqlite_busy_timeout_s)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        options = [
            f"-c lock_timeout={int(settings.pg_lock_timeout_s * 1000)}",
            f"-c idle_in_transaction_session_timeout={int(settings.pg_idle_in_transaction_timeout_s * 1000)}",
            "-c timezone=UTC",
        ]
        if settings.pg_statement_timeout_s:
            options.append(f"-c statement_timeout={int(settings.pg_statement_timeout_s * 1000)}")
        return create_engine(
            parsed,
            connect_args={"options": " ".join(options)},
            pool_size=settings.db_pool_size,
            pool_pre_ping=True,
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


# One lock per SQLite file per process (see the module's docstring), shared by every Database on that file.
_WRITER_LOCKS: dict[str, threading.Lock] = {}
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(url: str) -> threading.Lock | None:
    """The process's writer lock of a SQLite file (None for PostgreSQL and in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    key = str(Path(parsed.database).resolve())
    with _WRITER_LOCKS_GUARD:
        return _WRITER_LOCKS.setdefault(key, threading.Lock())


class Database:
    """One node's database: sessions for reading, and transactions for writing.

    ``with db.transaction() as s: ...`` is one use case: it commits once at the end, or rolls back on error.
    On SQLite it begins with ``BEGIN IMMEDIATE``.
    """

    def __init__(self, url: str, settings: Settings | None = None, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or create_db_engine(url, settings)
        self._write_engine = self.engine.execution_options(**{_WRITE: True})
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write = sessionmaker(bind=self._write_engine, expire_on_commit=False)
        self._writer_lock = _writer_lock(url)
        self._writer_wait_s = (settings or Settings()).sqlite_busy_timeout_s
        # A Database that is dropped without dispose() still closes its pooled connections cleanly, instead of
        # leaving them to the garbage collector (PostgreSQL would see the connections cut, not closed).
        self._finalizer = weakref.finalize(self, self.engine.dispose)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing unit of work: commit once on success, roll back on any error."""
        lock = self._writer_lock
        # A writer that waited the busy timeout for the process's lock goes on to SQLite's, which then
        # decides as before (it waits out its own timeout, or answers "database is locked").
        held = lock is not None and lock.acquire(timeout=self._writer_wait_s)
        try:
            with self._write() as session, session.begin():
                yield session
        finally:
            if held:
                assert lock is not None
                lock.release()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A reading session (its transaction is rolled back at the end)."""
        with self._read() as session:
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
