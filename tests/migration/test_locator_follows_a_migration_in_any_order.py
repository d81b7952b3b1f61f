"""The locator ends where the person is, whatever order a migration's reports arrive in: the origin's
"in transit" (with the owning case), the destination's registration and the origin's confirmation of the
move-out; and an abandoned migration ends registered at the origin again."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete
from tests.conftest import test_settings

from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.locator import LOCATOR_CODE, LocatorUpdate, _apply_one
from tongban.exchange.tables import LocatorEntryRow

DIGEST = "ab" * 32
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SH, BJ, CASE = "310000", "110000", "110000-20260101-000001"


def _update(status: str, days: int, **extra: object) -> LocatorUpdate:
    return LocatorUpdate(digest=DIGEST, status=status, changed_at=T0 + timedelta(days=days), **extra)  # type: ignore[arg-type]


SETTLED = [
    (SH, _update("in_transit", 1, case_ref=CASE)),
    (BJ, _update("registered", 2)),
    (SH, _update("cancelled", 3, moved_out=True)),
]
ABANDONED = [
    (SH, _update("in_transit", 1, case_ref=CASE)),
    (SH, _update("registered", 2)),
]


@pytest.mark.parametrize(
    ("reports", "final"),
    [(SETTLED, (BJ, "registered", None)), (ABANDONED, (SH, "registered", None))],
    ids=["settled", "abandoned"],
)
def test_every_order_ends_where_the_person_is(
    database: Database, tmp_path: Path, reports: list[tuple[str, LocatorUpdate]], final: tuple[str, str, None]
) -> None:
    node = NodeContext(code=LOCATOR_CODE, name="locator", db=database, settings=test_settings(tmp_path))
    for order in itertools.permutations(reports):
        with database.transaction() as s:
            s.execute(delete(LocatorEntryRow))
            _apply_one(s, node, SH, _update("registered", 0))
            for sender, update in order:
                _apply_one(s, node, sender, update)
        with database.session() as s:
            entry = s.get(LocatorEntryRow, DIGEST)
            assert entry is not None
            assert (entry.node, entry.status, entry.case_ref) == final, order
