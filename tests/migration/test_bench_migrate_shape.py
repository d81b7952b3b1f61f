"""``tongban bench migrate`` runs end to end: every migration completes (moved in at the destination), and it
reports its figure, latency percentiles and the raw commit baseline of the same database, and the invariant
checker it runs at the end found nothing."""

from __future__ import annotations

from pathlib import Path

from tongban.migration.bench import run_bench


def test_bench_migrate_smoke_on_sqlite(tmp_path: Path) -> None:
    out = run_bench(n=6, arrival_rate=20.0, db_a=None, db_b=None, data_dir=tmp_path).to_json()
    assert out["workload"] == "migrate"
    assert out["figure"]["value"] > 0 and out["baseline"]["value"] > 0 and out["ratio"] > 0
    assert out["details"]["completed"] == out["details"]["migrations"] == 6
    assert {"p50", "p99"} <= set(out["latency_ms"])
    # The checker ran over both nodes after the drain and found nothing (else run_bench raises).
    assert out["details"]["check"] and not any(out["details"]["check"].values())
    assert 0 < out["details"]["destination_transactions"] <= 3 * 6
