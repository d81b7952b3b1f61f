"""``tongban bench verify --json`` reports the figure, the raw Ed25519 baseline from the same run, and the ratio."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tongban.cli import app


def test_bench_verify_json_shape() -> None:
    result = CliRunner().invoke(app, ["bench", "verify", "--n", "40", "--rounds", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["workload"] == "verify"
    assert report["figure"]["unit"] == "papers/s" and report["figure"]["value"] > 0
    assert report["baseline"]["unit"] == "verifies/s" and report["baseline"]["value"] > 0
    assert abs(report["ratio"] - report["figure"]["value"] / report["baseline"]["value"]) < 0.01
    # The corpus mixes rotated keys and a revocation list: outcomes are valid or revoked, never invalid.
    assert set(report["details"]["outcomes"]) == {"valid", "revoked"}
    assert sum(report["details"]["outcomes"].values()) == 40
