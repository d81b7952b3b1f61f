"""``tongban bench migrate`` runs end to end: every migration completes (moved in at the destination), and it
reports its figure, latency percentiles and the raw commit baseline of the same database, and the invariant
checker it runs at the end found nothing."""

from __future__ import annotations

from pathlib import Path

from tongban.migration.bench import run_bench


def test_bench_migrate_smoke_on_sqlite(tmp_path: Path) -> None:
    out = run_bench(n=6, arrival_rate=20.0, db_a=None, db_b=None, data_dir=tmp_path, sql_top=5).to_json()
    assert out["workload"] == "migrate"
    assert out["figure"]["value"] > 0 and out["baseline"]["value"] > 0 and out["ratio"] > 0
    assert out["details"]["completed"] == out["details"]["migrations"] == 6
    assert {"p50", "p99"} <= set(out["latency_ms"])
    # The checker ran over both nodes after the drain and found nothing (else run_bench raises).
    assert out["details"]["check"] and not any(out["details"]["check"].values())
    assert 0 < out["details"]["destination_transactions"] <= 3 * 6
    # --sql-profile: the statements of both nodes by cost per migration, their text only.
    sql = out["details"]["sql"]
    assert sql["statements_per_unit"] > 20 and sql["driver_ms_per_unit"] > 0
    assert 0 < len(sql["top"]) <= 5
    assert all(t["sql"] and t["per_unit"] > 0 and t["us_each"] >= 0 for t in sql["top"])
    costs = [t["ms_per_unit"] for t in sql["top"]]
    assert costs == sorted(costs, reverse=True)
    assert not any("测试" in t["sql"] for t in sql["top"])  # bound values are never part of it
