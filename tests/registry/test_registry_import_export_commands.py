"""`tongban registry import` and `export`: whole-file refusal with line numbers, --skip-invalid, round trip."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core.db import Database
from tongban.registry.synthetic import synthetic_records

runner = CliRunner()


def write(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def sample() -> list[dict[str, object]]:
    return list(synthetic_records(12, node_code="110000", seed=5))


def test_a_bad_line_imports_nothing_and_is_named(database: Database, tmp_path: Path) -> None:
    records = sample()
    records[0] = {**records[0], "division": "119999"}
    src = write(tmp_path / "in.jsonl", records)
    result = runner.invoke(
        app, ["registry", "import", str(src), "--node", "110000", "--db", database.url, "--lang", "en"]
    )
    assert result.exit_code == 1
    assert "Unknown division code 119999." in result.output and "Nothing was imported" in result.output
    out = tmp_path / "out.jsonl"
    assert (
        runner.invoke(
            app, ["registry", "export", str(out), "--node", "110000", "--db", database.url]
        ).exit_code
        == 0
    )
    assert out.read_text(encoding="utf-8") == ""


def test_skip_invalid_imports_the_rest_and_writes_the_rejects(database: Database, tmp_path: Path) -> None:
    records = sample()
    households = [i for i, r in enumerate(records) if r["type"] == "household"]
    first, second = households[0], households[1]
    records[first] = {**records[first], "division": "119999"}
    src = write(tmp_path / "in.jsonl", records)
    (tmp_path / "in.jsonl.rejected.jsonl").unlink(missing_ok=True)
    result = runner.invoke(
        app,
        [
            "registry",
            "import",
            str(src),
            "--node",
            "110000",
            "--db",
            database.url,
            "--skip-invalid",
            "--lang",
            "en",
        ],
    )
    assert result.exit_code == 0, result.output
    rejected = (tmp_path / "in.jsonl.rejected.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejected) == second - first  # the household and every record of its members
    assert json.loads(rejected[0])["division"] == "119999"
    out = tmp_path / "out.jsonl"
    assert (
        runner.invoke(
            app, ["registry", "export", str(out), "--node", "110000", "--db", database.url]
        ).exit_code
        == 0
    )
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sum(r["type"] == "household" for r in exported) == len(households) - 1


def test_export_then_import_through_the_commands(
    database: Database, second_database: Database, tmp_path: Path
) -> None:
    src = write(tmp_path / "in.jsonl", sample())
    assert (
        runner.invoke(
            app, ["registry", "import", str(src), "--node", "110000", "--db", database.url]
        ).exit_code
        == 0
    )
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert (
        runner.invoke(app, ["registry", "export", str(a), "--node", "110000", "--db", database.url]).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["registry", "import", str(a), "--node", "110000", "--db", second_database.url]
    )
    assert result.exit_code == 0, result.output
    assert (
        runner.invoke(
            app, ["registry", "export", str(b), "--node", "110000", "--db", second_database.url]
        ).exit_code
        == 0
    )
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 0


def test_an_unmigrated_database_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "in.jsonl", sample())
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = runner.invoke(
        app, ["registry", "import", str(src), "--node", "110000", "--db", url, "--lang", "en"]
    )
    assert result.exit_code == 2 and "tongban db upgrade" in result.output


def test_import_in_parts_names_a_bad_line_of_a_late_part_and_imports_nothing(
    database: Database, tmp_path: Path
) -> None:
    records = sample()
    last = max(i for i, r in enumerate(records) if r["type"] == "person")
    records[last] = {**records[last], "birthplace": "999999"}
    src = write(tmp_path / "in.jsonl", records)
    args = ["registry", "import", str(src), "--node", "110000", "--db", database.url, "--lang", "en"]
    result = runner.invoke(app, [*args, "--chunk", "3"])
    assert result.exit_code == 1
    assert str(last + 1) in result.output and "Nothing was imported: 1 bad record(s)." in result.output
    records[last] = sample()[last]
    write(src, records)
    result = runner.invoke(app, [*args, "--chunk", "3"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out.jsonl"
    assert (
        runner.invoke(
            app, ["registry", "export", str(out), "--node", "110000", "--db", database.url]
        ).exit_code
        == 0
    )
    assert (
        sum(json.loads(line)["type"] == "person" for line in out.read_text(encoding="utf-8").splitlines())
        == 12
    )
