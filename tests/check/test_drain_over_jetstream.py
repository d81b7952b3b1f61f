"""Draining an embedded data dir over JetStream (``tongban check --nats``): the import's locator updates travel
through a stream of the test's own, and the nation is clean once they are applied."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from check_support import build_small_nation
from tests.exchange.exchange_support import delete_stream

from tongban.core.checks import backlog, run_check
from tongban.core.node import open_node, read_manifest
from tongban.core.settings import Settings


def test_drain_over_jetstream(
    tmp_path: Path, sqlite_template: Path, nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:10]
    stream = f"TBCHECK_{tag}"
    monkeypatch.setenv("TONGBAN_EXCHANGE_STREAM_NAME", stream)
    monkeypatch.setenv("TONGBAN_EXCHANGE_SUBJECT_PREFIX", f"tbcheck.{tag}")
    nation = build_small_nation(tmp_path, "sqlite", sqlite_template, None, people=40)
    before = _pending(nation.data_dir)
    assert before > 0  # the import's locator updates wait in the outboxes
    try:
        report = run_check(data_dir=nation.data_dir, nats_url=nats_url)
    finally:
        delete_stream(nats_url, stream)
    assert report.exit_code == 0, (report.errors, [f.to_json() for f in report.findings[:5]])
    assert report.drained is not None and report.drained.complete and report.drained.pending == {}
    assert _pending(nation.data_dir) == 0


def _pending(data_dir: Path) -> Any:
    total = 0
    for entry in read_manifest(data_dir):
        node = open_node(entry, Settings(data_dir=data_dir))
        total += backlog(node).pending
        node.db.dispose()
    return total
