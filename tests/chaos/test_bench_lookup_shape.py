"""``tongban bench lookup`` runs: a small SQLite node served by uvicorn, lookups by ID number over HTTP against
the trivial endpoint of the same app; the output has its figure, baseline, ratio and both p99s (a smoke run: the
shape, not thresholds). Every lookup wrote its read to the access log."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tongban.access.tables import RecordView
from tongban.chaos.bench import NODE, run_bench
from tongban.core.db import Database


def test_bench_lookup_smoke_on_sqlite(tmp_path: Path) -> None:
    out = run_bench(data_dir=tmp_path, db=None, people=300, requests=90, concurrency=4, workers=1).to_json()
    assert out["workload"] == "lookup"
    assert out["figure"]["value"] > 0 and out["baseline"]["value"] > 0 and out["ratio"] > 0
    assert {"p50", "p99"} <= set(out["latency_ms"]) and out["details"]["p99_ratio"] > 0
    assert out["details"]["requests_each"] == 90 and out["details"]["backend"] == "sqlite"
    db = Database(f"sqlite:///{tmp_path / f'{NODE}.sqlite3'}")
    try:
        with db.session() as s:
            views = int(s.scalar(select(func.count()).select_from(RecordView)) or 0)
    finally:
        db.dispose()
    assert views >= 90  # the warm-up's lookups are logged too
