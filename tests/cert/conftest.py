"""Fixtures of the CERT tests (their support code is in ``cert_support``)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.cert.cert_support import locator_database
from tests.exchange.exchange_support import other_db

from tongban.core.db import Database

__all__ = ["other_db"]


@pytest.fixture
def locator_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    db = locator_database(tmp_path, sqlite_template)
    yield db
    db.dispose()
