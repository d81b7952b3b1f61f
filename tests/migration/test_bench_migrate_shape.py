"""``tongban bench migrate`` runs end to end: every migration completes (moved in at the destination), and it
reports its figure, latency percentiles and the raw commit baseline of the same database, and the invariant
checker it runs at the end found nothing."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PG_ADMIN_URL, PgFactory, missing_service

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


def test_bench_migrate_with_the_origin_in_its_own_process(
    tmp_path: Path, nats_url: str, pg_factory: PgFactory | None
) -> None:
    """--nats: node B is a ``tongban serve --node`` process moving out without a clerk, the exchange is
    JetStream (a stream of the run's own, deleted at the end), and the nodes are on PostgreSQL."""
    import asyncio

    import nats

    if pg_factory is None:
        missing_service("PostgreSQL at " + PG_ADMIN_URL)
        raise AssertionError("unreachable")
    out = run_bench(
        n=6,
        arrival_rate=20.0,
        db_a=pg_factory.new(),
        db_b=pg_factory.new(),
        data_dir=tmp_path,
        nats_url=nats_url,
    ).to_json()
    details = out["details"]
    assert details["completed"] == details["migrations"] == 6
    assert details["processes"] == 2 and details["transport"] == "jetstream"
    assert details["backend_a"] == details["backend_b"] == "postgresql"
    assert details["check"] and not any(details["check"].values())
    assert out["ratio"] > 0
    # Only B's own process can have moved the persons out (this one runs A's exchange alone): it worked.
    assert (
        details["cpu_ms_per_migration"]["origin"] > 0 and details["cpu_ms_per_migration"]["destination"] > 0
    )

    async def streams() -> list[str]:
        nc = await nats.connect(nats_url)
        try:
            return [str(s.config.name) for s in await nc.jetstream().streams_info()]
        finally:
            await nc.close()

    assert details["stream"].startswith("TBMIG_")
    assert details["stream"] not in asyncio.run(streams())
