"""``tongban bench deadlines``: cases the deadline sweep marks overdue per second, against bare updates.

The workload accepts ``--n`` synthetic cases into a scratch node database (a temporary SQLite file unless
``--db`` names a scratch database), moves the node's clock past their deadlines, and sweeps them in batches.
The figure is cases marked per second by the sweep: load the case and its history, the domain's transition,
a compare-and-set save and an appended event, one transaction per case. The baseline is the same number of
bare single-row ``UPDATE`` transactions on the same table, alternated batch by batch with the sweep so that
load from other processes weighs on both alike. Acceptance latency (numbering, due date, insert) is reported
as p50/p95/p99.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select, update

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.cases import jobs, service
from tongban.cases.calendar import CHINA_TZ
from tongban.cases.tables import CaseRow
from tongban.core import migrate
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings

START = datetime(2025, 6, 9, 10, tzinfo=CHINA_TZ)
LATER = datetime(2025, 7, 31, 10, tzinfo=CHINA_TZ)


def run(n: int, *, db_url: str | None = None, batch: int = 100) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        settings = Settings(data_dir=Path(tmp))
        db = Database(url, settings)
        try:
            migrate.upgrade(db)
            clock = FixedClock(START)
            node = NodeContext(code="310000", name="bench", db=db, settings=settings, clock=clock)
            service.cases_setup(node)  # data files read before timing
            accept_ms: list[float] = []
            with progress("deadlines: accepting cases", n) as advance:
                for i in range(n):
                    started = time.perf_counter()
                    service.accept_case(
                        node, matter="BIRTH", applicant=f"bench:{i}", office="bench-office", actor="bench"
                    )
                    accept_ms.append((time.perf_counter() - started) * 1000)
                    advance(1)
            clock.set(LATER)
            with db.session() as s:
                ids = list(s.scalars(select(CaseRow.id).order_by(CaseRow.id)))
            marked = 0
            sweep_s = base_s = 0.0
            with progress("deadlines: sweep and baseline", n) as advance:
                done = 0
                while done < n:
                    started = time.perf_counter()
                    result = jobs.sweep_deadlines(node, batch=batch, deliver=False)
                    sweep_s += time.perf_counter() - started
                    marked += len(result.cases_overdue)
                    chunk = ids[done : done + batch]
                    started = time.perf_counter()
                    for row_id in chunk:
                        with db.transaction() as s:
                            s.execute(
                                update(CaseRow).where(CaseRow.id == row_id).values(version=CaseRow.version)
                            )
                    base_s += time.perf_counter() - started
                    done += len(chunk)
                    advance(len(chunk))
                    if not result.cases_overdue:
                        break
        finally:
            db.dispose()
    figure = rate(marked, sweep_s)
    baseline = rate(n, base_s)
    return BenchResult(
        workload="deadlines",
        figure=Measure("cases marked overdue per second", round(figure, 1), "1/s"),
        baseline=Measure("bare single-row update transactions per second", round(baseline, 1), "1/s"),
        ratio=round(figure / baseline, 4) if baseline else 0.0,
        latency_ms=percentiles(accept_ms),
        details={"n": n, "marked": marked, "backend": db.backend, "latency": "acceptance of one case"},
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("deadlines")
    def deadlines(
        n: Annotated[int, typer.Option("--n", min=1, help="Cases to accept and sweep.")] = 2000,
        db: Annotated[
            str | None,
            typer.Option("--db", help="A scratch database URL (default: a temporary SQLite file)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    ) -> None:
        """Cases marked overdue per second by the deadline sweep, against bare single-row updates."""
        report(run(n, db_url=db), as_json)
