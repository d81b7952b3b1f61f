"""``tongban bench lookup``: lookups of a person by ID number over HTTP against a node app served by uvicorn
with several workers (issue 11, point 3).

The figure is ``POST /api/v1/registry/persons/lookup`` requests per second (token authentication, the query,
the jurisdiction check and the write of the read to the person's access log, then the JSON answer). The
baseline is ``GET /api/v1/access/me`` of the same app, same process, same workers, same middleware and same
token (authentication included, no query of the register, no write), measured in the same run: the two
alternate in rounds so that a neighbour's load on a shared machine falls on both. Goal (issue 11): the lookup
at 60% or more of the baseline's requests/s, and its p99 at most twice the baseline's p99.

The node is a synthetic one-province nation of ``--people`` persons (``tongban.nation.build``), on SQLite in a
temporary data dir or on a scratch PostgreSQL database given with ``--db`` (an empty one is filled; one that
already holds a register, such as a 10-million-person node, is used as it is with ``--data-dir`` of its
nation). This lives with the chaos tools: both are issue 11's proof at scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report

NODE = "110000"
LOOKUP = "/api/v1/registry/persons/lookup"
BASELINE = "/api/v1/access/me"


def make_app() -> Any:
    """The uvicorn factory of the bench's server (each worker builds its app from the environment)."""
    from tongban.core.node import NodeEntry
    from tongban.core.settings import Settings
    from tongban.web.app import create_app
    from tongban.web.runtime import build_runtime

    settings = Settings()
    code = os.environ.get("TONGBAN_BENCH_NODE", NODE)
    runtime = build_runtime(settings, only=[NodeEntry(code, code, settings.db_url)])
    return create_app(runtime)


@dataclass
class Series:
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies_ms)


async def _round(
    base: str, token: str, path: str, ids: list[str], n: int, concurrency: int, series: Series
) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    remaining = [n]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def one_worker(seed: int) -> None:
            rng = random.Random(seed)
            while remaining[0] > 0:
                remaining[0] -= 1
                t0 = time.perf_counter()
                if path == LOOKUP:
                    resp = await client.post(path, json={"id_number": rng.choice(ids)})
                else:
                    resp = await client.get(path)
                elapsed = (time.perf_counter() - t0) * 1000
                if resp.status_code == 200:
                    series.latencies_ms.append(elapsed)
                else:
                    series.errors[resp.status_code] = series.errors.get(resp.status_code, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one_worker(i) for i in range(concurrency)))
        series.seconds += time.perf_counter() - start


def _prepare(data_dir: Path, db: str | None, people: int, secret: str) -> tuple[list[str], str, int, str]:
    """The node (built when empty), a sample of its ID numbers, an API token, its size and backend."""
    from tongban.access.domain import Scope
    from tongban.access.service import create_api_token
    from tongban.core.clock import SystemClock
    from tongban.core.node import NodeEntry, open_node
    from tongban.core.settings import Settings
    from tongban.nation.build import build_nation
    from tongban.registry.tables import Person

    settings = Settings(data_dir=data_dir, db_url=db, secret_key=secret)
    node = open_node(NodeEntry(NODE, NODE, db), settings)
    try:
        size = 0
        with contextlib.suppress(Exception), node.db.session() as s:
            size = int(s.scalar(select(func.count()).select_from(Person)) or 0)
        if size == 0:
            node.db.dispose()
            build_nation(settings, [NODE], people=people, seed=2026, force=True, demo_accounts=False)
            node = open_node(NodeEntry(NODE, NODE, db), settings)
        with node.db.session() as s:
            size = int(s.scalar(select(func.count()).select_from(Person)) or 0)
            # A sample spread over the table (by id), not the first rows only.
            top = int(s.scalar(select(func.max(Person.id))) or 0)
            picks = sorted(random.Random(1).sample(range(1, top + 1), min(5000, top)))
            ids = list(s.scalars(select(Person.id_number).where(Person.id.in_(picks))))
        token = create_api_token(
            node.db,
            name="bench lookup",
            actions=["registry.person.read", "access.account.self"],
            scope=Scope.PROVINCE,
            division_code=NODE,
            actor="system:bench",
            now=SystemClock().now(),
        )
        return ids, token, size, node.db.backend
    finally:
        node.db.dispose()


def run_bench(
    *,
    data_dir: Path,
    db: str | None,
    people: int,
    requests: int,
    concurrency: int,
    workers: int,
    rounds: int = 3,
) -> BenchResult:
    secret = secrets.token_hex(16)
    ids, token, size, backend = _prepare(data_dir, db, people, secret)
    from tongban.chaos.cluster import free_port

    port = free_port()
    env = {
        **os.environ,
        "TONGBAN_DATA_DIR": str(data_dir),
        "TONGBAN_SECRET_KEY": secret,
        "TONGBAN_BENCH_NODE": NODE,
        "TONGBAN_LOG_LEVEL": "WARNING",
    }
    if db:
        env["TONGBAN_DB_URL"] = db
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "tongban.chaos.bench:make_app",
        "--factory",
        "--host",
        "127.0.0.1",
    ]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    log = data_dir / "bench-lookup-server.log"
    with log.open("ab") as fh:
        server = subprocess.Popen(cmd, env=env, stdout=fh, stderr=fh, start_new_session=True)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server, log)
        lookups, baseline = Series(), Series()
        # Warm every worker (imports, connection pools, caches) on both paths.
        warm = Series()
        asyncio.run(_round(base, token, BASELINE, ids, 50 * workers, concurrency, warm))
        asyncio.run(_round(base, token, LOOKUP, ids, 50 * workers, concurrency, warm))
        per_round = max(1, requests // rounds)
        with progress("lookups and baseline, alternating", 2 * per_round * rounds) as advance:
            for _ in range(rounds):
                asyncio.run(_round(base, token, BASELINE, ids, per_round, concurrency, baseline))
                advance(per_round)
                asyncio.run(_round(base, token, LOOKUP, ids, per_round, concurrency, lookups))
                advance(per_round)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
    if lookups.errors or baseline.errors:
        raise RuntimeError(
            f"non-200 answers: lookups {lookups.errors}, baseline {baseline.errors} (see {log})"
        )
    figure = rate(lookups.count, lookups.seconds)
    base_rate = rate(baseline.count, baseline.seconds)
    lp, bp = percentiles(lookups.latencies_ms), percentiles(baseline.latencies_ms)
    return BenchResult(
        workload="lookup",
        figure=Measure("person lookups by ID number per second over HTTP", round(figure, 1), "1/s"),
        baseline=Measure(f"GET {BASELINE} per second, same app and workers", round(base_rate, 1), "1/s"),
        ratio=round(figure / base_rate, 4) if base_rate else 0.0,
        latency_ms=lp,
        details={
            "persons": size,
            "backend": backend,
            "workers": workers,
            "concurrency": concurrency,
            "requests_each": lookups.count,
            "rounds": rounds,
            "baseline_latency_ms": bp,
            "p99_ratio": round(lp["p99"] / bp["p99"], 3) if bp["p99"] else None,
            "goal": "ratio >= 0.6 and p99_ratio <= 2.0",
            "lookup": f"POST {LOOKUP} (token, query, scope check, access-log write)",
            "client": f"httpx, {concurrency} connections, in the same machine",
        },
    )


def _wait_ready(base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the bench server exited (see {log})")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as resp:  # noqa: S310 - http://127.0.0.1
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the bench server was not ready within {timeout:.0f} s (see {log})")


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("lookup")
    def bench_lookup(
        people: Annotated[
            int, typer.Option(help="Persons of the synthetic node (when it is built).")
        ] = 20000,
        db: Annotated[
            str | None,
            typer.Option(
                help="PostgreSQL URL: an empty scratch database is filled; one that holds a register (such as "
                "a node loaded by `tongban bench load`) is used as it is, without reloading."
            ),
        ] = None,
        data_dir: Annotated[
            Path | None, typer.Option("--data-dir", help="The node's data dir (default: a temporary one).")
        ] = None,
        requests: Annotated[int, typer.Option(help="Requests of each kind.")] = 6000,
        concurrency: Annotated[int, typer.Option(help="Client connections.")] = 16,
        workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 2,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Person lookups by ID number over HTTP (uvicorn workers, access-log write included), against a
        trivial authenticated endpoint of the same app as the baseline."""
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            result = run_bench(
                data_dir=data_dir,
                db=db,
                people=people,
                requests=requests,
                concurrency=concurrency,
                workers=workers,
            )
        else:
            with tempfile.TemporaryDirectory(prefix="tongban-bench-lookup-") as tmp:
                result = run_bench(
                    data_dir=Path(tmp),
                    db=db,
                    people=people,
                    requests=requests,
                    concurrency=concurrency,
                    workers=workers,
                )
        report(result, as_json)
