"""A served process sweeps its nodes' deadlines by itself (no ``tongban case sweep``): a case past its due
date is marked overdue, and the sweep stops with the app, embedded (a data dir of nodes) or single-node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import test_settings
from tests.exchange.exchange_support import wait_until

from tongban.cases import service
from tongban.cases.runtime import SWEEPER, DeadlineSweeper
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext, NodeEntry, write_manifest
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime

CODE = "310000"


@pytest.mark.parametrize("mode", ["embedded", "single-node"])
def test_a_served_node_marks_an_overdue_case_without_the_cli(
    mode: str, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = test_settings(tmp_path)
    long_ago = datetime.now(UTC) - timedelta(days=60)
    past = NodeContext(code=CODE, name="上海", db=database, settings=settings, clock=FixedClock(long_ago))
    late = service.accept_case(past, matter="CERT", applicant="person:synthetic-1", office="OFF", actor="u:1")
    fresh = service.accept_case(
        NodeContext(code=CODE, name="上海", db=database, settings=settings),
        matter="CERT",
        applicant="person:synthetic-2",
        office="OFF",
        actor="u:1",
    )
    assert service.get_case(past, number=late.number).overdue_at is None

    monkeypatch.setenv("TONGBAN_CASES_SWEEP_INTERVAL_S", "0.2")
    entry = NodeEntry(CODE, "上海", database.url)
    if mode == "embedded":
        write_manifest(tmp_path, [entry])
        runtime = build_runtime(settings)
    else:
        runtime = build_runtime(settings, only=[entry])
    sweeper = runtime.extras[SWEEPER]
    assert isinstance(sweeper, DeadlineSweeper) and sweeper.running
    node = runtime.nodes[CODE]
    try:
        with TestClient(create_app(runtime)):
            assert wait_until(lambda: service.get_case(node, number=late.number).overdue_at is not None, 20)
            assert service.get_case(node, number=fresh.number).overdue_at is None
            history = service.get_case(node, number=late.number).events
            assert history[-1].actor == "system:deadline-sweep"
        # The app's shutdown stopped the sweep.
        assert SWEEPER not in runtime.extras and not sweeper.running
    finally:
        sweeper.stop()
        for n in runtime.nodes.values():
            n.db.dispose()


def test_the_sweep_is_a_setting_and_can_be_off(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_CASES_SWEEP_INTERVAL_S", "0")
    runtime = build_runtime(test_settings(tmp_path), only=[NodeEntry(CODE, "上海", database.url)])
    try:
        assert SWEEPER not in runtime.extras
    finally:
        with TestClient(create_app(runtime)):
            pass
        for n in runtime.nodes.values():
            n.db.dispose()
