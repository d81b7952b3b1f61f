"""``tongban bench cert`` runs end to end: every case completes with an issued paper, and it reports its
figure, latency percentiles and the raw commit baseline of the same database."""

from __future__ import annotations

from pathlib import Path

from tongban.cert.bench import run_bench


def test_bench_cert_smoke_on_sqlite(tmp_path: Path) -> None:
    out = run_bench(n=8, db_a=None, db_b=None, data_dir=tmp_path).to_json()
    assert out["workload"] == "cert"
    assert out["figure"]["value"] > 0 and out["baseline"]["value"] > 0 and out["ratio"] > 0
    assert out["details"]["issued"] == out["details"]["cases"] == 8
    assert {"p50", "p99"} <= set(out["latency_ms"])
