"""What cannot drain is reported under ``drained`` and makes the check exit 2: a message nobody receipts
(still in flight when the drain gives up) and a parked one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from check_support import build_small_nation

from tongban.core.checks import CheckSettings, run_check
from tongban.exchange import store
from tongban.exchange.tables import OutboxRow


def _row(eid: str, state: str, recipient: str) -> OutboxRow:
    now = datetime.now(UTC)
    return OutboxRow(
        id=eid,
        recipient=recipient,
        type="test.note.v1",
        raw=b"not an envelope",
        state=state,
        attempts=1,
        next_attempt_at=now,
        created_at=now,
    )


def test_undrained(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> None:
    nation = build_small_nation(tmp_path, backend, sqlite_template, pg_factory, people=20)
    assert run_check(data_dir=nation.data_dir).exit_code == 0
    node = nation.open("110000", exchange=False)
    with node.db.transaction() as s:
        s.add(_row("00000000-0000-4000-8000-000000000001", store.OUT_SENT, "999999"))  # no such node
        s.add(_row("00000000-0000-4000-8000-000000000002", store.OUT_PARKED, "440000"))
    node.db.dispose()
    report = run_check(data_dir=nation.data_dir, settings=CheckSettings(drain_timeout_s=1.5))
    assert report.findings == [] and report.errors == []
    assert report.exit_code == 2 and not report.ok
    drained = report.to_json()["drained"]
    assert drained["complete"] is False
    assert drained["pending"] == {"110000": {"queued": 0, "unreceipted": 1, "inbox": 0}}
    assert drained["parked"] == {"110000": {"outbox": 1, "inbox": 0}}
