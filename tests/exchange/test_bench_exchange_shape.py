"""``tongban bench exchange`` runs end to end and reports its figure, baseline and exactly-once counts."""

from __future__ import annotations

from pathlib import Path

import tongban.exchange.probe  # noqa: F401
from tongban.exchange.bench import run_bench


def test_bench_exchange_smoke_on_the_embedded_transport(tmp_path: Path) -> None:
    result = run_bench(n=30, nats_url=None, db_a=None, db_b=None, data_dir=tmp_path)
    out = result.to_json()
    assert out["workload"] == "exchange"
    assert out["figure"]["unit"] == "1/s" and out["figure"]["value"] > 0
    assert out["baseline"]["name"] == "Ed25519 verifies per second" and out["baseline"]["value"] > 0
    assert out["ratio"] > 0
    assert out["details"]["applied"] == out["details"]["applied_distinct"] == 30
