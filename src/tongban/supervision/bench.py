"""``tongban bench supervision``: the dashboard's figures over a node with many cases, against a full scan.

The workload fills a scratch node database (a temporary SQLite file unless ``--db`` names a scratch database)
with ``--n`` synthetic cases accepted over two years at 60 offices of 20 counties, most of them closed, a few
percent open and some of those overdue (on PostgreSQL, the tables are then analysed, as autovacuum would
after such a load), then computes a county supervisor's and the province's figures for
the last 30 days ``--repeat`` times each. The figure is dashboards computed per second (every query of the
page: volumes, open work, closings, tasks, the overdue list); the baseline, measured alternately in the same
run, is one ``SELECT count(*)`` over the whole case table: the cost of looking at every case once. A ratio
above 1 means the dashboard costs less than reading the table through once.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, insert, select

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.cases.calendar import WorkingCalendar, end_of_day
from tongban.cases.tables import CaseRow, CaseWindowRow
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.settings import Settings
from tongban.supervision.queries import Reach, figures

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
MATTERS = [("MIG-SPOUSE", "standard"), ("MIG-JOB", "standard"), ("CERT", "window"), ("CERT", "online")]
COUNTIES = [f"4401{i:02d}" for i in range(1, 21)]


def fill(db: Database, n: int, *, seed: int = 7, chunk: int = 5000) -> None:
    """``n`` cases with their window records, inserted in chunks of plain rows (no domain, no history)."""
    rng = random.Random(seed)
    today = NOW.date()
    with progress("supervision: filling cases", n) as advance:
        for first in range(0, n, chunk):
            cases: list[dict[str, Any]] = []
            windows: list[dict[str, Any]] = []
            for i in range(first, min(n, first + chunk)):
                back = rng.randrange(730)  # about n / 730 cases a day
                accepted_on = today - timedelta(days=back)
                accepted_at = datetime(accepted_on.year, accepted_on.month, accepted_on.day, 2, tzinfo=UTC)
                due: date = accepted_on + timedelta(days=28)
                closed = back > 40 or rng.random() < 0.6
                late = rng.random() < 0.1
                closed_at = (
                    accepted_at + timedelta(days=35 if late else rng.randrange(2, 27)) if closed else None
                )
                if closed_at is not None and closed_at > NOW:
                    closed_at = NOW - timedelta(hours=1)
                county = COUNTIES[i % len(COUNTIES)]
                matter, procedure = MATTERS[i % len(MATTERS)]
                cases.append(
                    {
                        "id": i + 1,
                        "number": f"440000-{accepted_on:%Y%m%d}-{i:08d}",
                        "matter": matter,
                        "procedure": procedure,
                        "applicant": f"cid:bench{i}",
                        "accepting_node": "440000",
                        "accepting_office": f"{county}-0{i % 3 + 1}",
                        "accepted_at": accepted_at,
                        "time_limit_value": 20,
                        "time_limit_unit": "working_days",
                        "materials_wait_value": 30,
                        "materials_wait_unit": "calendar_days",
                        "state": "closed"
                        if closed
                        else rng.choice(["accepted", "in_progress", "in_progress"]),
                        "close_reason": rng.choice(["completed"] * 8 + ["refused", "withdrawn"])
                        if closed
                        else None,
                        "pauses": [],
                        "missing_materials": [],
                        "due": due,
                        "deadline_at": end_of_day(due),
                        "years_without_data": "",
                        "overdue_at": end_of_day(due) if late else None,
                        "closed_at": closed_at,
                        "version": 1,
                    }
                )
                windows.append(
                    {
                        "case_id": i + 1,
                        "division_code": county,
                        "applicant_masked": county + "********0000",
                        "locale": "zh_CN",
                    }
                )
            with db.transaction() as s:
                s.execute(insert(CaseRow), cases)
                s.execute(insert(CaseWindowRow), windows)
            advance(len(cases))


def run(n: int, *, repeat: int = 20, db_url: str | None = None) -> BenchResult:
    with tempfile.TemporaryDirectory(prefix="tongban-bench-") as tmp:
        url = db_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        db = Database(url, Settings(data_dir=Path(tmp)))
        calendar = WorkingCalendar()
        reaches = [Reach(division=COUNTIES[0]), Reach(division="44", tasks=True)]
        try:
            migrate.upgrade(db)
            fill(db, n)
            if db.backend == "postgresql":
                # What autovacuum does on a live node after so many inserts: statistics for the planner.
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE cases_case, cases_case_window, cases_task")
            dashboard_ms: list[float] = []
            scan_ms: list[float] = []
            overdue = 0
            with progress("supervision: dashboards and scans", repeat) as advance:
                for _ in range(repeat):
                    for reach in reaches:
                        started = time.perf_counter()
                        with db.session() as s:
                            f = figures(s, reach=reach, period_days=30, now=NOW, calendar=calendar)
                        dashboard_ms.append((time.perf_counter() - started) * 1000)
                        overdue = max(overdue, f.overdue_cases)
                        started = time.perf_counter()
                        with db.session() as s:
                            s.execute(select(func.count()).select_from(CaseRow)).scalar_one()
                        scan_ms.append((time.perf_counter() - started) * 1000)
                    advance(1)
            backend = db.backend
        finally:
            db.dispose()
    figure = rate(len(dashboard_ms), sum(dashboard_ms) / 1000)
    baseline = rate(len(scan_ms), sum(scan_ms) / 1000)
    return BenchResult(
        workload="supervision",
        figure=Measure(
            "dashboards computed per second (30 days, county and province)", round(figure, 2), "1/s"
        ),
        baseline=Measure("full counts of the case table per second", round(baseline, 2), "1/s"),
        ratio=round(figure / baseline, 4) if baseline else 0.0,
        latency_ms=percentiles(dashboard_ms),
        details={
            "n": n,
            "repeat": repeat,
            "backend": backend,
            "overdue": overdue,
            "latency": "one dashboard",
        },
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("supervision")
    def supervision(
        n: Annotated[int, typer.Option("--n", min=1, help="Cases in the scratch node.")] = 200_000,
        repeat: Annotated[int, typer.Option("--repeat", min=1, help="Dashboards per reach.")] = 20,
        db: Annotated[
            str | None,
            typer.Option("--db", help="A scratch database URL (default: a temporary SQLite file)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    ) -> None:
        """The supervisor's dashboard over many cases, against one full count of the case table."""
        report(run(n, repeat=repeat, db_url=db), as_json)
