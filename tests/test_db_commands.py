"""`tongban db upgrade` and `tongban db check` on a data dir and on a database URL."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest

runner = CliRunner()


def test_upgrade_then_check_every_node_of_a_data_dir(tmp_path: Path) -> None:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市"), NodeEntry("440000", "广东省")])
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "110000.sqlite3").exists() and (tmp_path / "440000.sqlite3").exists()
    db = Database(f"sqlite:///{tmp_path / '440000.sqlite3'}")
    assert migrate.current_heads(db) == migrate.script_heads()
    db.dispose()
    result = runner.invoke(app, ["db", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("schema matches") == 2


def test_upgrade_without_any_node_says_what_to_do(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "--db URL" in result.output


def test_upgrade_a_postgresql_database_by_url(pg_url: str) -> None:
    result = runner.invoke(app, ["db", "upgrade", "--db", pg_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["db", "check", "--db", pg_url])
    assert result.exit_code == 0, result.output
