"""``tongban nation init`` creates the nodes and the manifest, refuses to overwrite, and checks its input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core.node import read_manifest

runner = CliRunner()


def test_init_creates_every_node_and_the_manifest_last(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "nation",
            "init",
            "--codes",
            "440000,510000",
            "--people",
            "150",
            "--seed",
            "3",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [e.code for e in read_manifest(tmp_path)] == ["440000", "510000"]
    assert [e.name for e in read_manifest(tmp_path)] == ["广东省", "四川省"]
    assert (tmp_path / "440000.sqlite3").exists() and (tmp_path / "510000.sqlite3").exists()
    manifest = json.loads((tmp_path / "nation.json").read_text(encoding="utf-8"))
    assert manifest["nation"]["seed"] == 3
    assert manifest["nation"]["nodes"]["440000"]["persons"] == 150

    again = runner.invoke(
        app, ["nation", "init", "--provinces", "1", "--people", "10", "--data-dir", str(tmp_path)]
    )
    assert again.exit_code == 1
    assert "already holds a nation" in again.output

    forced = runner.invoke(
        app, ["nation", "init", "--provinces", "1", "--people", "20", "--force", "--data-dir", str(tmp_path)]
    )
    assert forced.exit_code == 0, forced.output
    assert [e.code for e in read_manifest(tmp_path)] == ["110000"]


def test_default_provinces_are_a_fixed_choice(tmp_path: Path) -> None:
    from tongban.nation.build import choose_provinces

    assert choose_provinces(4, None) == ["110000", "440000", "510000", "650000"]
    assert choose_provinces(None, ["650000", " 110000", "650000"]) == ["650000", "110000"]


def test_unknown_or_non_provincial_codes_are_refused(tmp_path: Path) -> None:
    for codes in ("990000", "110105", "abc"):
        result = runner.invoke(app, ["nation", "init", "--codes", codes, "--data-dir", str(tmp_path)])
        assert result.exit_code == 2, (codes, result.output)
    too_many = runner.invoke(app, ["nation", "init", "--provinces", "99", "--data-dir", str(tmp_path)])
    assert too_many.exit_code == 2
    assert not (tmp_path / "nation.json").exists()


def test_leftover_node_files_of_an_unfinished_init_are_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "110000.sqlite3").write_bytes(b"")
    result = runner.invoke(
        app, ["nation", "init", "--provinces", "1", "--people", "10", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "--force" in result.output
