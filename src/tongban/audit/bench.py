"""``tongban bench audit``: audited writes with the sealer running, against plain writes; verify speed."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from tongban.audit.jobs import Sealer, seal_pending
from tongban.audit.service import record_audit
from tongban.audit.verify import verify_chain
from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database

_plain = sa.Table(
    "bench_plain_writes",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("object_id", sa.String(128), nullable=False),
)


def run(db: Database, rows: int) -> BenchResult:
    migrate.upgrade(db)
    _plain.drop(db.engine, checkfirst=True)
    _plain.create(db.engine)
    try:
        with progress("plain writes (baseline)", rows) as advance:
            start = time.perf_counter()
            for i in range(rows):
                with db.transaction() as s:
                    s.execute(_plain.insert().values(actor="bench", object_id=str(i)))
                advance(1)
            plain_s = time.perf_counter() - start
    finally:
        _plain.drop(db.engine, checkfirst=True)

    clock = SystemClock()
    sealer = Sealer(db, clock, interval_s=0.05, batch_size=500)
    sealer.start()
    samples: list[float] = []
    with progress("audited writes, sealer running", rows) as advance:
        start = time.perf_counter()
        for i in range(rows):
            t0 = time.perf_counter()
            with db.transaction() as s:
                record_audit(
                    s,
                    actor="bench",
                    action="bench.row.write",
                    object_type="bench",
                    object_id=str(i),
                    change={"status": "written", "n": i},
                    at=datetime.now(UTC),
                )
            samples.append((time.perf_counter() - t0) * 1000)
            advance(1)
        audited_s = time.perf_counter() - start
    t_lag = time.perf_counter()
    sealer.stop()  # seals the rest
    seal_rest_s = time.perf_counter() - t_lag
    seal_pending(db, clock=clock)
    t_verify = time.perf_counter()
    with db.session() as s:
        verified = verify_chain(s)
    verify_s = time.perf_counter() - t_verify
    if not verified.ok:
        raise RuntimeError(f"chain does not verify after the run: {verified.first}")
    figure = Measure("audited writes", rate(rows, audited_s), "tx/s")
    baseline = Measure("plain writes", rate(rows, plain_s), "tx/s")
    return BenchResult(
        workload="audit",
        figure=figure,
        baseline=baseline,
        ratio=figure.value / baseline.value if baseline.value else 0.0,
        latency_ms=percentiles(samples),
        details={
            "backend": db.backend,
            "rows": rows,
            "sealed": verified.sealed,
            "sealing the rest at stop (s)": round(seal_rest_s, 3),
            "verify (rows/s)": round(rate(verified.sealed, verify_s), 1),
        },
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("audit")
    def audit_bench(
        rows: Annotated[int, typer.Option(help="Audited transactions to write.")] = 2000,
        db: Annotated[
            str | None,
            typer.Option("--db", help="A scratch database URL (default: a temporary SQLite file)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    ) -> None:
        """Audited writes per second with the sealer linking them, against plain writes; verify speed."""
        with tempfile.TemporaryDirectory() as tmp:
            database = Database(db or f"sqlite:///{Path(tmp) / 'bench-audit.sqlite3'}")
            try:
                report(run(database, rows), as_json)
            finally:
                database.dispose()
