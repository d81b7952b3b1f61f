"""``tongban bench access-views``: recording views through the buffer, against one commit per view."""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from tongban.access import store
from tongban.access.accesslog import ViewBuffer, ViewRecord
from tongban.access.domain import Principal, PrincipalKind, Role, Target, decide
from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database

CLERK = Principal(
    id="1",
    kind=PrincipalKind.STAFF,
    role=Role.WINDOW_CLERK,
    display_name="bench",
    node="110000",
    division_code="110105",
    office_code="BENCH",
)


def run(db: Database, views: int, threads: int) -> BenchResult:
    migrate.upgrade(db)
    clock = SystemClock()
    per_thread = max(1, views // threads)
    total = per_thread * threads

    def direct(k: int, advance: object) -> None:
        for i in range(per_thread):
            rec = ViewRecord(
                at=clock.now(),
                viewer_id="1",
                viewer_role="window_clerk",
                viewer_division="110105",
                viewer_office="BENCH",
                person_ref=f"b-{k}-{i}",
                person_division="110105",
                reason="search",
                reason_ref=None,
                action="registry.person.read",
            )
            with db.transaction() as s:
                store.add_views(s, [asdict(rec)])

    start = time.perf_counter()
    ts = [threading.Thread(target=direct, args=(k, None)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    direct_s = time.perf_counter() - start

    buf = ViewBuffer(db, clock, interval_s=0.2, batch=500, max_pending=20_000)
    buf.start()
    samples: list[list[float]] = [[] for _ in range(threads)]

    def buffered(k: int) -> None:
        for i in range(per_thread):
            t0 = time.perf_counter()
            buf.record(
                CLERK,
                person_ref=f"v-{k}-{i}",
                person_division="110105",
                reason="search",
                reason_ref=None,
                action="registry.person.read",
            )
            samples[k].append((time.perf_counter() - t0) * 1000)

    with progress("buffered views", None):
        start = time.perf_counter()
        ts = [threading.Thread(target=buffered, args=(k,)) for k in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        buffered_s = time.perf_counter() - start
        t_stop = time.perf_counter()
        buf.stop()
        drain_s = time.perf_counter() - t_stop
    with db.session() as s:
        stored = store.count_views(s)
    if stored != 2 * total:
        raise RuntimeError(f"{2 * total - stored} access records lost")

    t0 = time.perf_counter()
    n = 100_000
    target = Target(division_code="110108")
    for _ in range(n):
        decide(CLERK, "registry.person.read", target)
    decide_s = time.perf_counter() - t0

    figure = Measure("views recorded through the buffer", rate(total, buffered_s), "views/s")
    baseline = Measure("views committed one by one", rate(total, direct_s), "views/s")
    return BenchResult(
        workload="access-views",
        figure=figure,
        baseline=baseline,
        ratio=figure.value / baseline.value if baseline.value else 0.0,
        latency_ms=percentiles([x for xs in samples for x in xs]),
        details={
            "backend": db.backend,
            "views": total,
            "threads": threads,
            "records stored": stored,
            "drain at stop (s)": round(drain_s, 3),
            "policy decisions/s": round(rate(n, decide_s)),
        },
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("access-views")
    def access_views(
        views: Annotated[int, typer.Option(help="Views of persons' records to record.")] = 5000,
        threads: Annotated[int, typer.Option(help="Concurrent readers.")] = 4,
        db: Annotated[
            str | None,
            typer.Option("--db", help="A scratch database URL (default: a temporary SQLite file)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    ) -> None:
        """Recording views through the buffer (committed in groups) against one commit per view."""
        with tempfile.TemporaryDirectory() as tmp:
            database = Database(db or f"sqlite:///{Path(tmp) / 'bench-views.sqlite3'}")
            try:
                report(run(database, views, threads), as_json)
            finally:
                database.dispose()
