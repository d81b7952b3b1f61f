"""``tongban check``: exit 0 when clean, 1 on any finding, 2 when the nodes cannot be read; ``--json`` prints
the summary (ok, counts, findings, nodes, drained); the table names the finding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from check_support import build_small_nation
from sqlalchemy import update
from typer.testing import CliRunner

from tongban.cases import service as cases
from tongban.cases.tables import CaseRow
from tongban.cli import app


def test_exit_codes_and_json(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> None:
    nation = build_small_nation(tmp_path, backend, sqlite_template, pg_factory, people=40)
    runner = CliRunner()
    clean = runner.invoke(app, ["check", "--data-dir", str(nation.data_dir), "--json"])
    assert clean.exit_code == 0, clean.output
    doc = json.loads(clean.stdout)
    assert set(doc) >= {"ok", "counts", "findings", "nodes", "drained"}
    assert doc["ok"] is True and doc["findings"] == []
    assert doc["nodes"] == ["000000", "110000", "440000"]
    assert doc["counts"]["person.active-in-several"] == 0 and all(v == 0 for v in doc["counts"].values())
    assert doc["drained"]["mode"] == "embedded" and doc["drained"]["complete"] is True

    node = nation.open("440000", exchange=False)
    case = cases.accept_case(node, matter="CERT", applicant="person:x-1", office="o-1", actor="u:1")
    with node.db.transaction() as s:
        s.execute(update(CaseRow).where(CaseRow.number == case.number).values(deadline_at=None))
    node.db.dispose()

    found = runner.invoke(app, ["check", "--data-dir", str(nation.data_dir), "--json"])
    assert found.exit_code == 1, found.output
    doc = json.loads(found.stdout)
    assert doc["ok"] is False and doc["counts"]["case.no-live-deadline"] == 1
    assert doc["findings"] == [
        {
            "check": "case.no-live-deadline",
            "node": "440000",
            "subject": case.number,
            "detail": "accepted without an official deadline",
        }
    ]
    table = runner.invoke(app, ["check", "--data-dir", str(nation.data_dir)], env={"COLUMNS": "200"})
    assert table.exit_code == 1
    assert "case.no-live-deadline" in table.stdout and case.number in table.stdout

    # Nothing to read: no nation in the directory, or a node database without the schema.
    empty = runner.invoke(app, ["check", "--data-dir", str(tmp_path / "nothing"), "--json"])
    assert empty.exit_code == 2 and json.loads(empty.stdout)["errors"]
    bare = f"sqlite:///{tmp_path / 'bare.sqlite3'}"
    unread = runner.invoke(app, ["check", "--node", f"110000={bare}", "--json"])
    assert unread.exit_code == 2, unread.output
    bad = runner.invoke(app, ["check", "--node", "beijing=sqlite://"])
    assert bad.exit_code == 2  # a usage error
