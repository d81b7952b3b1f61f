"""``tongban bench idcheck --json`` prints one JSON object of the harness's shape (no thresholds)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tongban.cli import app
from tongban.idnum.bench import make_pool
from tongban.idnum.domain import is_valid


def test_idcheck_json_shape() -> None:
    result = CliRunner().invoke(app, ["bench", "idcheck", "--n", "500", "--json"])
    assert result.exit_code == 0, result.output
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    assert out["workload"] == "idcheck"
    for key in ("figure", "baseline"):
        assert set(out[key]) == {"name", "value", "unit"}
        assert out[key]["value"] > 0
    assert out["ratio"] > 0
    assert out["ratio"] == round(out["figure"]["value"] / out["baseline"]["value"], 4)
    assert {"cpu", "cores", "memory_gib"} <= set(out["machine"])
    assert out["at"].endswith("+00:00")
    assert out["details"]["valid"] + out["details"]["invalid"] == 500


def test_pool_mixes_valid_and_invalid_numbers() -> None:
    pool = make_pool(400)
    valid = sum(is_valid(n) for n in pool)
    assert 300 < valid < 400
    assert make_pool(50) == make_pool(50)  # seeded: the same pool every run
