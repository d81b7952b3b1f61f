"""Fixtures of the migration tests (their support code is in ``mig_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.migration.mig_support import MigNation, fresh_db, start_nation

from tongban.core.db import Database
from tongban.exchange.transport import EmbeddedTransport


@pytest.fixture
def make_db(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> Iterator[Any]:
    made: list[Database] = []

    def make(name: str) -> Database:
        db = fresh_db(backend, tmp_path, sqlite_template, pg_factory, name)
        made.append(db)
        return db

    yield make
    for db in made:
        db.dispose()


@pytest.fixture
def nation(database: Database, make_db: Any, tmp_path: Path) -> Iterator[MigNation]:
    n = start_nation(database, make_db, tmp_path, EmbeddedTransport)
    try:
        yield n
    finally:
        n.runner.stop()


@pytest.fixture
def auto_nation(database: Database, make_db: Any, tmp_path: Path) -> Iterator[MigNation]:
    n = start_nation(database, make_db, tmp_path, EmbeddedTransport, automatic=True)
    try:
        yield n
    finally:
        n.runner.stop()
