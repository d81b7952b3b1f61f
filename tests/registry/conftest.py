"""Registry fixtures: a Beijing node on the test's database, with a clock fixed in June 2026."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings

from .registry_helpers import NOW

if TYPE_CHECKING:
    from tests.conftest import PgFactory


@pytest.fixture
def node(database: Database, tmp_path: Path) -> NodeContext:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret-key-not-for-production")
    return NodeContext(code="110000", name="北京市", db=database, settings=settings, clock=FixedClock(NOW))


@pytest.fixture
def second_database(
    backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: PgFactory | None
) -> Iterator[Database]:
    """Another fresh, migrated database on the same backend as ``database``."""
    if backend == "sqlite":
        target = tmp_path / "second.sqlite3"
        shutil.copyfile(sqlite_template, target)
        url = f"sqlite:///{target}"
    else:
        assert pg_factory is not None
        url = pg_factory.new()
    db = Database(url)
    yield db
    db.dispose()
