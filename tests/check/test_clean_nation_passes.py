"""A clean synthetic nation passes the invariant checker after its locator updates have drained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from check_support import build_small_nation

from tongban.core.checks import Finding, Report, assert_clean, run_check


def test_clean_nation(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> None:
    nation = build_small_nation(tmp_path, backend, sqlite_template, pg_factory)
    report = run_check(data_dir=nation.data_dir)
    assert_clean(report)
    assert report.exit_code == 0
    assert report.drained is not None and report.drained.complete and report.drained.mode == "embedded"
    assert report.nodes == ["000000", "110000", "440000"]
    # The drain delivered every import's locator updates: the locator knows everyone.
    from sqlalchemy import func, select

    from tongban.exchange.tables import LocatorEntryRow

    locator = nation.open("000000", exchange=False)
    with locator.db.session() as s:
        assert (s.scalar(select(func.count()).select_from(LocatorEntryRow)) or 0) > 200
    locator.db.dispose()


def test_assert_clean_lists_what_is_wrong() -> None:
    report = Report(
        nodes=["110000"], findings=[Finding("case.no-live-deadline", "110000", "C-1", "accepted")]
    )
    with pytest.raises(AssertionError, match=r"case\.no-live-deadline at 110000: C-1"):
        assert_clean(report)
    assert_clean(Report(nodes=["110000"]))
