"""``tongban bench deadlines --json`` prints one JSON object of the harness's shape (no thresholds)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tongban.cli import app


def test_deadlines_json_shape() -> None:
    result = CliRunner().invoke(app, ["bench", "deadlines", "--n", "30", "--json"])
    assert result.exit_code == 0, result.output
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    assert out["workload"] == "deadlines"
    for key in ("figure", "baseline"):
        assert set(out[key]) == {"name", "value", "unit"}
        assert out[key]["value"] > 0
    # the ratio is computed before the figures are rounded for display
    assert out["ratio"] == pytest.approx(out["figure"]["value"] / out["baseline"]["value"], rel=1e-2)
    assert set(out["latency_ms"]) == {"p50", "p95", "p99"}
    assert out["details"]["marked"] == 30  # every accepted case was marked, once
    assert out["details"]["backend"] == "sqlite"
