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


def test_bench_exchange_with_the_receiver_in_its_own_process(tmp_path: Path, nats_url: str) -> None:
    result = run_bench(n=30, nats_url=nats_url, db_a=None, db_b=None, data_dir=tmp_path, processes=2)
    details = result.to_json()["details"]
    assert details["transport"] == "jetstream" and details["processes"] == 2
    assert details["applied"] == details["applied_distinct"] == 30
    assert details["raw_jetstream_acked_publishes_per_s"] > 0
    assert set(details["cpu_ms_per_message"]) == {"sender", "receiver"}
