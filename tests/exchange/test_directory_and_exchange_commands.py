"""The operator commands: build a directory, rotate and revoke keys, queue probes, read the status."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core import migrate
from tongban.core.db import Database
from tongban.exchange import directory_admin
from tongban.exchange.directory import RevocationReason


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_directory_commands(tmp_path: Path) -> None:
    d = str(tmp_path)
    run("directory", "init", "--data-dir", d)
    run("directory", "add-node", "--code", "110000", "--name", "北京市", "--data-dir", d)
    run("directory", "add-node", "--code", "310000", "--name", "上海市", "--data-dir", d)
    out = run("directory", "rotate-key", "--code", "110000", "--purpose", "envelopes", "--data-dir", d)
    new_key = out.split("key ")[1].split(" ")[0]
    run(
        "directory",
        "revoke-key",
        "--code",
        "110000",
        "--key-id",
        new_key,
        "--reason",
        "superseded",
        "--data-dir",
        d,
    )
    doc = json.loads(run("directory", "show", "--json", "--data-dir", d))
    assert doc["serial"] == 5
    keys = {k["key_id"]: k for n in doc["nodes"] if n["code"] == "110000" for k in n["keys"]}
    assert keys[new_key]["revocation_reason"] == RevocationReason.SUPERSEDED
    # Refusals exit non-zero with a message.
    bad = CliRunner().invoke(
        app, ["directory", "add-node", "--code", "110000", "--name", "x", "--data-dir", d]
    )
    assert bad.exit_code == 1
    assert (
        directory_admin.show(tmp_path, now=directory_admin.show(tmp_path, now=_now()).issued_at).serial == 5
    )


def test_probe_and_status_commands(tmp_path: Path) -> None:
    d = str(tmp_path)
    run("directory", "init", "--data-dir", d)
    run("directory", "add-node", "--code", "110000", "--name", "北京市", "--data-dir", d)
    run("directory", "add-node", "--code", "310000", "--name", "上海市", "--data-dir", d)
    url = f"sqlite:///{tmp_path / 'bj.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    run(
        "exchange",
        "probe",
        "--to",
        "310000",
        "--count",
        "3",
        "--node",
        "110000",
        "--db",
        url,
        "--data-dir",
        d,
    )
    status = json.loads(run("exchange", "status", "--json", "--node", "110000", "--db", url, "--data-dir", d))
    assert status["110000"][0]["peer"] == "310000" and status["110000"][0]["queued"] == 3
    assert "0 message(s)" in run("exchange", "retry", "--node", "110000", "--db", url, "--data-dir", d)


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
