"""`tongban bench load`, `search` and `counts` run on both backends and report the harness's shape."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from tongban.cli import app
from tongban.core.db import Database

runner = CliRunner()


def run(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_load_then_search_report_figure_baseline_and_ratio(database: Database) -> None:
    loaded = run("load", "--people", "40", "--db", database.url)
    assert loaded["workload"] == "load" and loaded["ratio"] > 0
    assert loaded["figure"]["unit"] == loaded["baseline"]["unit"] == "persons/s"
    assert loaded["details"]["rows"]["persons"] == 40
    assert loaded["details"]["rows"]["search_keys"] >= 80
    assert set(loaded["details"]["seconds"]) == {"ours", "check", "load", "raw", "generate"}
    assert {"cpu", "cores"} <= set(loaded["machine"])

    searched = run("search", "--db", database.url, "--queries", "10")
    assert searched["workload"] == "search"
    assert set(searched["latency_ms"]) == {"p50", "p95", "p99"}
    assert searched["details"]["persons"] == 40 and searched["details"]["queries_with_hits"] == 10

    counted = run("counts", "--db", database.url, "--repeat", "3")
    assert counted["workload"] == "counts" and counted["ratio"] > 0
    assert set(counted["latency_ms"]) == {"p50", "p95", "p99"}
    assert counted["details"]["persons"] == 40


def test_load_refuses_a_node_that_has_records(database: Database) -> None:
    run("load", "--people", "5", "--db", database.url)
    result = runner.invoke(app, ["bench", "load", "--people", "5", "--db", database.url])
    assert result.exit_code != 0 and "not empty" in result.output


def test_load_in_parts_without_the_baseline(database: Database) -> None:
    loaded = run("load", "--people", "40", "--chunk", "7", "--no-baseline", "--db", database.url)
    assert loaded["details"]["rows"]["persons"] == 40 and loaded["details"]["chunk"] == 7
    assert set(loaded["details"]["seconds"]) == {"ours", "check", "load", "generate"}
    assert loaded["ratio"] == 0.0
    assert loaded["details"]["peak_rss_mib"] > 0
