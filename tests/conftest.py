"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

A migrated template database is built once per test process and per backend; each test gets a fresh copy
(a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL). With ``CI=true`` a PostgreSQL or NATS
server that cannot be reached fails the run; on a developer's machine the tests that need it are skipped.
"""

from __future__ import annotations

import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_ADMIN_URL = os.environ.get("TONGBAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_SECRET_KEY = "test-secret-key-not-for-production"
NATS_URL = os.environ.get("TONGBAN_TEST_NATS", "nats://127.0.0.1:4222")

settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=150, deadline=None)
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def missing_service(what: str) -> None:
    """A required service is unreachable: a failure in CI, a skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI and could not be reached", pytrace=False)
    pytest.skip(f"{what} not reachable")


def test_settings(tmp_path: Path) -> Settings:
    """Settings with short timeouts for a test (not itself a test)."""
    return Settings(
        data_dir=tmp_path,
        pg_lock_timeout_s=5,
        pg_idle_in_transaction_timeout_s=30,
        sqlite_busy_timeout_s=10,
        db_pool_size=5,
        secret_key=TEST_SECRET_KEY,
    )


def _pg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg_admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_pg_conninfo(PG_ADMIN_URL), autocommit=True, connect_timeout=3)


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{dbname}"


class PgFactory:
    """Creates fresh, migrated PostgreSQL databases from a template; drops them at the end."""

    def __init__(self) -> None:
        self.template = f"tb_tpl_{uuid.uuid4().hex[:12]}"
        self.created: list[str] = []
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        db = Database(_pg_url(self.template))
        migrate.upgrade(db)
        db.dispose()

    def new(self) -> str:
        name = f"tb_t_{uuid.uuid4().hex[:16]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return _pg_url(name)

    def drop_all(self) -> None:
        with _pg_admin() as conn:
            for name in [*self.created, self.template]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_factory() -> Iterator[PgFactory | None]:
    try:
        with _pg_admin() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        yield None
        return
    factory = PgFactory()
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


_databases: weakref.WeakSet[Database] = weakref.WeakSet()
_original_init = Database.__init__


def _tracking_init(self: Database, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    _databases.add(self)


Database.__init__ = _tracking_init  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _close_idle_connections() -> Iterator[None]:
    """After each test, close the pooled connections of every database it opened.

    A pool collected with open PostgreSQL connections raises a ResourceWarning (an error here) in whichever
    test happens to run then. Disposing only closes idle connections; an engine still in use reconnects.
    """
    yield
    for db in list(_databases):
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: PgFactory | None) -> str:
    """The URL of a fresh, migrated node database on the test's backend."""
    if backend == "sqlite":
        target = tmp_path / "node.sqlite3"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite:///{target}"
    if pg_factory is None:
        missing_service("PostgreSQL at " + PG_ADMIN_URL)
        raise AssertionError("unreachable")
    return pg_factory.new()


@pytest.fixture
def database(db_url: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated node database, on SQLite and on PostgreSQL."""
    db = Database(db_url, test_settings(tmp_path))
    yield db
    db.dispose()


@pytest.fixture
def pg_url(pg_factory: PgFactory | None) -> str:
    """A fresh, migrated PostgreSQL database only (for PostgreSQL-specific behaviour)."""
    if pg_factory is None:
        missing_service("PostgreSQL at " + PG_ADMIN_URL)
        raise AssertionError("unreachable")
    return pg_factory.new()


@pytest.fixture(scope="session")
def nats_url() -> str:
    """The shared NATS JetStream server (tests that restart a broker start their own)."""
    import socket

    host, port = NATS_URL.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            pass
    except OSError:
        missing_service("NATS at " + NATS_URL)
    return NATS_URL


test_settings.__test__ = False  # type: ignore[attr-defined]
