"""``tongban audit verify --data-dir D [--node CODE]`` checks every node's chain, or one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from tongban.audit.jobs import seal_pending
from tongban.audit.service import record_audit
from tongban.cli import app
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest


def test_each_node_is_checked_and_the_broken_one_named(tmp_path: Path) -> None:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市"), NodeEntry("440000", "广东省")])
    for code in ("110000", "440000"):
        db = Database(f"sqlite:///{tmp_path / f'{code}.sqlite3'}")
        migrate.upgrade(db)
        for i in range(3):
            with db.transaction() as s:
                record_audit(
                    s,
                    actor="u",
                    action="a.b.c",
                    object_type="t",
                    object_id=str(i),
                    change=None,
                    at=datetime.now(UTC),
                )
        seal_pending(db, clock=SystemClock())
        if code == "440000":
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP TRIGGER audit_log_seal_once"))
                conn.execute(sa.text("UPDATE audit_log SET object_id = 'x' WHERE chain_pos = 2"))
        db.dispose()
    runner = CliRunner()
    both = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert both.exit_code == 1
    assert "110000: audit chain intact" in both.output and "440000: audit chain BROKEN" in both.output
    assert "position 2" in both.output
    one = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path), "--node", "110000"])
    assert one.exit_code == 0 and "440000" not in one.output
    none = runner.invoke(app, ["audit", "verify", "--data-dir", str(tmp_path), "--node", "990000"])
    assert none.exit_code == 2
