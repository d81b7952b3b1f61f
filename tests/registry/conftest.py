"""Registry fixtures: a Beijing node on the test's database, with a clock fixed in June 2026."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_helpers import NOW

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings


@pytest.fixture
def node(database: Database, tmp_path: Path) -> NodeContext:
    settings = Settings(data_dir=tmp_path, secret_key="test-secret-key-not-for-production")
    return NodeContext(code="110000", name="北京市", db=database, settings=settings, clock=FixedClock(NOW))
