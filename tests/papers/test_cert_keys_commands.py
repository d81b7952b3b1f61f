"""``tongban cert keys create/export``: a node's paper key in a data dir without a directory, and its public list."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core.clock import utcnow
from tongban.papers.keys import FileKeyStore, StaticKeyResolver


def test_create_then_export(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["cert", "keys", "create", "110000", "--data-dir", str(tmp_path)])
    assert created.exit_code == 0, created.output
    key_id = created.output.strip().split(": ")[1]
    exported = runner.invoke(app, ["cert", "keys", "export", "--data-dir", str(tmp_path)])
    assert exported.exit_code == 0
    doc = json.loads(exported.output)
    assert [k["key_id"] for k in doc["nodes"]["110000"]] == [key_id]
    assert "private" not in exported.output and len(doc["nodes"]["110000"][0]["public_key"]) == 43
    resolver = StaticKeyResolver.from_bytes(exported.output.strip().encode())
    signer = FileKeyStore(tmp_path / "paper-keys").current_signer("110000", utcnow() + timedelta(seconds=1))
    assert signer is not None and signer.key_id == key_id
    key = resolver.paper_key("110000", key_id)
    assert key is not None and key.public_key == signer.public_key
    private = next((tmp_path / "paper-keys" / "110000").glob("*.key"))
    assert private.stat().st_mode & 0o077 == 0  # readable by the owner only
