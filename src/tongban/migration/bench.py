"""``tongban bench migrate``: completed migrations per second at a fixed arrival rate, between two nodes.

Node B (310000, the origin) holds ``--n`` synthetic persons, each alone in a household; node A (110000, the
destination) has as many empty households. Migrations arrive at A at ``--rate`` per second (open loop: the
arrival times are fixed in advance, whether or not the nodes keep up). What has arrived is accepted (case,
consent, policy decision, open mark) and approved (permit issued and sent) through the service layer, in
batches of up to ``--batch`` cases per transaction (``accept_migrations``, ``approve_many``); B moves each
person out automatically (in transit, certificate issued and sent; the exchange applies the permits in
groups); A registers the move-ins of the certificates attached (``move_in_many``) and sends the settlements; B
confirms the move-outs. Two threads drive A, as a province's windows and its move-in desk would: one accepts
and approves the arrivals, the other registers the move-ins. The figure is migrations completed (moved in at
A) per second from the first arrival to the last completion; the latency is from each migration's scheduled
arrival to its move-in (p50/p95/p99).
At the end the exchange is drained and the invariant checker runs over both nodes: any finding fails the
bench. The baseline is the raw commit rate of A's database in the same run: as many bare single-row
``UPDATE`` transactions through a plain connection. Databases default to SQLite files in a temporary
directory; ``--db-a`` / ``--db-b`` name scratch PostgreSQL databases (migrated here; registers empty).

With ``--nats URL`` the two nodes are two processes, as in production (one province per node): A stays in
this process, B runs as ``tongban serve --node 310000`` (automatic move-out from
``TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT``), and the exchange between them is JetStream, on a stream of the
run's own that is deleted at the end. Without it both nodes share this process and the embedded transport.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select, text

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report, sql_profile
from tongban.chaos.cluster import NodeProcess, free_port
from tongban.core import checks, migrate
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import bench as exchange_bench
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.runtime import node_exchange, transport_for
from tongban.exchange.settings import ExchangeSettings
from tongban.idnum.domain import make_id_number

A, B = "110000", "310000"
AREA = "310104"


def _populate(a: NodeContext, b: NodeContext, n: int) -> list[str]:
    from tongban.registry import service as registry
    from tongban.registry import store as registry_store

    for node in (a, b):
        with node.db.session() as s:
            if not registry_store.is_empty(s):
                raise typer.BadParameter("the registers must be empty (give scratch databases)")
    people = []
    with progress("registers", n) as advance:
        for i in range(n):
            born = date(1970, 1, 1) + timedelta(days=i // 900)
            id_number = make_id_number(AREA, born, 1 + i % 900)
            registry.create_household(
                b,
                actor="bench",
                number=f"BH{i:08d}",
                kind="family",
                address=f"上海市徐汇区测试路{i}号",
                division_code=AREA,
                on_date=date(2020, 1, 1),
            )
            registry.register_person(
                b,
                actor="bench",
                household_number=f"BH{i:08d}",
                relation="head",
                event="moved_in",
                name="测试",
                sex="male" if (1 + i % 900) % 2 else "female",
                birth_date=born,
                ethnicity="01",
                birthplace=AREA,
                id_number=id_number,
                on_date=date(2020, 1, 1),
            )
            registry.create_household(
                a,
                actor="bench",
                number=f"AH{i:08d}",
                kind="family",
                address=f"北京市朝阳区测试路{i}号",
                division_code="110105",
                on_date=date(2020, 1, 1),
            )
            people.append(id_number)
            advance(1)
    return people


def _drain(nodes: list[NodeContext], timeout_s: float = 120.0) -> checks.DrainReport:
    """Wait (the exchange running) until nothing is in flight: the settlements applied at the origin and
    every message receipted."""
    report = checks.DrainReport(mode="embedded")
    t0 = time.monotonic()
    while True:
        logs = {node.code: checks.backlog(node) for node in nodes}
        if all(b.pending == 0 for b in logs.values()) or time.monotonic() - t0 > timeout_s:
            break
        time.sleep(0.05)
    report.seconds = round(time.monotonic() - t0, 3)
    for code, b in logs.items():
        if b.pending:
            report.pending[code] = {"queued": b.queued, "unreceipted": b.unreceipted, "inbox": b.inbox_open}
        if b.outbox_parked or b.inbox_parked:
            report.parked[code] = {"outbox": b.outbox_parked, "inbox": b.inbox_parked}
    report.complete = not report.pending and not report.parked
    return report


_ORIGIN_SETTINGS = ("stream_name", "subject_prefix", "poll_interval_s", "resend_initial_s")


def _cpu_s(proc: NodeProcess | None) -> float:
    return 0.0 if proc is None or proc.proc is None else exchange_bench.cpu_s(proc.proc)


def _start_origin(nats_url: str, db_url: str, data_dir: Path, xs: ExchangeSettings, log: Path) -> NodeProcess:
    """Node B as a process of its own (``tongban serve --node``), moving out without a clerk."""
    env = {f"TONGBAN_EXCHANGE_{name.upper()}": str(getattr(xs, name)) for name in _ORIGIN_SETTINGS}
    env |= {
        "TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT": "true",
        "TONGBAN_SECRET_KEY": secrets.token_urlsafe(32),
        "TONGBAN_LOG_LEVEL": "WARNING",
    }
    proc = NodeProcess(B, db_url, nats_url, data_dir, free_port(), log, env)
    proc.start()
    try:
        proc.wait_ready(120.0)
    except RuntimeError:
        proc.stop(10.0)
        raise
    return proc


def run_bench(
    *,
    n: int,
    arrival_rate: float,
    db_a: str | None,
    db_b: str | None,
    data_dir: Path,
    max_batch: int = 100,
    poll_s: float = 0.005,
    window_s: float = 0.0,
    sql_top: int = 0,
    nats_url: str | None = None,
) -> BenchResult:
    from tongban.cases import window
    from tongban.migration import service as mig
    from tongban.migration.common import SETTINGS_SERVICE, MigrationSettings
    from tongban.migration.tables import MigrationCaseRow
    from tongban.papers.directory import DirectorySignerSource
    from tongban.papers.service import KEYS_SERVICE

    bare_update = text("UPDATE migration_case SET note = NULL WHERE id = :id")
    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    for code, name in ((A, "北京市"), (B, "上海市")):
        directory_admin.add_node(data_dir, code=code, name=name, now=now)
    tag = uuid.uuid4().hex[:8]
    xs = ExchangeSettings(poll_interval_s=0.01, resend_initial_s=30.0)
    if nats_url is not None:
        xs = xs.model_copy(update={"stream_name": f"TBMIG_{tag}", "subject_prefix": f"tbmig.{tag}"})
    settings = Settings(data_dir=data_dir)
    a = open_node(NodeEntry(A, "北京市", db_a), settings)
    b = open_node(NodeEntry(B, "上海市", db_b), settings)
    for node in (a, b):
        migrate.upgrade(node.db)
        node_exchange(node, data_dir, xs)
        node.services[KEYS_SERVICE] = DirectorySignerSource(node.services["exchange"].directory, data_dir)
    b.services[SETTINGS_SERVICE] = MigrationSettings(automatic_move_out=True)
    people = _populate(a, b, n)
    clerk = window.Actor(id="user:bench-clerk", office="OFF-BENCH", division="110105")
    origin: NodeProcess | None = None
    if nats_url is None:
        runner = ExchangeRunner(
            [a.services["exchange"], b.services["exchange"]], lambda: transport_for(None, xs)
        )
    else:
        # B's exchange runs in B's process; this process reads B's database only to drain and check.
        runner = ExchangeRunner([a.services["exchange"]], lambda: transport_for(nats_url, xs))
    arrived: dict[str, float] = {}
    finished: dict[str, float] = {}
    refused: list[str] = []
    counted = {"transactions": 0}
    pending = select(MigrationCaseRow.case_number).where(MigrationCaseRow.state == "certificate_received")
    stop = threading.Event()
    failed: list[BaseException] = []
    lock = threading.Lock()

    def arrivals(start: float) -> None:
        """Open loop: migration i arrives at start + i / rate whether or not the node keeps up. What has
        arrived is accepted (and approved) as one batch once the oldest of it has waited the batching window,
        or the batch is full, or the last has arrived, as the windows of a province would."""
        next_i = 0
        while next_i < n and not stop.is_set():
            tick = time.perf_counter()
            due = min(n, int((tick - start) * arrival_rate) + 1)
            waited = tick - (start + next_i / arrival_rate)
            if next_i < due and (waited >= window_s or due - next_i >= max_batch or due == n):
                batch = range(next_i, min(due, next_i + max_batch))
                requests = [
                    mig.MigrationRequest(
                        applicant=window.Applicant(
                            id_number=people[i], phone=None, email=None, locale="zh_CN"
                        ),
                        name="测试",
                        matter="MIG-JOB",
                        facts={},
                        household_number=f"AH{i:08d}",
                        relation="head",
                        origin_address="上海市徐汇区测试路",
                        origin=B,
                    )
                    for i in batch
                ]
                accepted = mig.accept_migrations(a, actor=clerk, requests=requests)
                numbers = [x for x in accepted if isinstance(x, str)]
                with lock:
                    # Latency counts from the scheduled arrival; recorded before the permits can be answered.
                    for i, number in zip(batch, accepted, strict=True):
                        if isinstance(number, str):
                            arrived[number] = start + i / arrival_rate
                    refused.extend(repr(x) for x in accepted if not isinstance(x, str))
                approved = mig.approve_many(a, actor=clerk, numbers=numbers)
                with lock:
                    refused.extend(repr(x) for x in approved if not isinstance(x, str))
                    counted["transactions"] += 2
                next_i = batch.stop
                continue
            # Wait for the next batch to be due.
            time.sleep(max(0.0, start + next_i / arrival_rate + window_s - time.perf_counter()))

    def move_ins(advance: Callable[[int], None]) -> None:
        """The certificates attached since the last look (at most once per batching window, at once after a
        full batch) are registered as move-ins, a batch per transaction."""
        while not stop.is_set():
            tick = time.perf_counter()
            with a.db.session() as s:
                ready = list(s.scalars(pending.limit(max_batch)))
            if ready:
                moved = mig.move_in_many(a, actor=clerk, numbers=ready)
                at = time.perf_counter()
                with lock:
                    counted["transactions"] += 1
                    for number, outcome in zip(ready, moved, strict=True):
                        if isinstance(outcome, str):
                            finished[number] = at
                            advance(1)
                        else:
                            refused.append(repr(outcome))
            if len(ready) < max_batch:
                time.sleep(max(0.0, tick + max(window_s, poll_s) - time.perf_counter()))

    def guarded(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                fn(*args)
            except BaseException as e:  # reported by the main thread
                failed.append(e)
                stop.set()

        return run

    try:
        if nats_url is not None:
            origin = _start_origin(nats_url, b.db.url, data_dir, xs, data_dir / "origin.log")
        runner.start()
        # The statements of the nodes in this process (both, or A alone with --nats), the driver's and the
        # exchange thread's, while the migrations run.
        with sql_profile(enabled=sql_top > 0) as profile:
            start = time.perf_counter()
            cpu_here, cpu_origin = time.process_time(), _cpu_s(origin)
            with progress("completed", n) as advance:
                # Two drivers, as at a province's offices: the windows accept and approve as applications
                # arrive while the move-ins of attached certificates are registered beside them.
                threads = [
                    threading.Thread(target=guarded(arrivals, start), name="bench-arrivals"),
                    threading.Thread(target=guarded(move_ins, advance), name="bench-move-ins"),
                ]
                for t in threads:
                    t.start()
                try:
                    while not stop.is_set():
                        with lock:
                            if refused or len(finished) >= n:
                                break
                        time.sleep(0.01)
                finally:
                    stop.set()
                    for t in threads:
                        t.join()
            if failed:
                raise failed[0]
            if refused:
                raise RuntimeError(f"migrations refused in the bench: {refused[:3]}")
            elapsed = time.perf_counter() - start
            cpu_here, cpu_origin = time.process_time() - cpu_here, _cpu_s(origin) - cpu_origin
        drained = _drain([a, b])
    finally:
        runner.stop()
        if origin is not None:
            origin.stop(30.0)
        if nats_url is not None:
            asyncio.run(exchange_bench.delete_stream(nats_url, xs.stream_name))
    report = checks.check_nation({A: a, B: b}, drained=drained)
    if not report.ok:
        raise RuntimeError(f"the invariant checker found problems after the bench: {report.to_json()}")
    latencies = [(finished[k] - arrived[k]) * 1000 for k in finished]
    with a.db.session() as s:
        ids = list(s.scalars(select(MigrationCaseRow.id)))
    # The baseline: bare single-row UPDATE transactions on A's database, through a plain connection.
    base_start = time.perf_counter()
    with progress("baseline: bare commits at A", len(ids)) as advance:
        for row_id in ids:
            with a.db.engine.begin() as c:
                c.execute(bare_update, {"id": row_id})
            advance(1)
    baseline = rate(len(ids), time.perf_counter() - base_start)
    figure = rate(n, elapsed)
    for node in (a, b):
        node.db.dispose()
    return BenchResult(
        workload="migrate",
        figure=Measure("completed migrations per second", round(figure, 1), "1/s"),
        baseline=Measure(
            "bare single-row update transactions per second (node A's database)", round(baseline, 1), "1/s"
        ),
        ratio=round(figure / baseline, 4) if baseline else 0.0,
        latency_ms=percentiles(latencies),
        details={
            "migrations": n,
            "completed": len(finished),
            "arrival_rate": arrival_rate,
            "transport": "jetstream" if nats_url else "embedded",
            "processes": 2 if nats_url else 1,
            **({"stream": xs.stream_name} if nats_url else {}),
            "origin": "automatic move-out",
            "backend_a": a.db.backend,
            "backend_b": b.db.backend,
            "seconds": round(elapsed, 2),
            "latency": "scheduled arrival at A to the move-in registered at A, per migration",
            "destination_transactions": counted["transactions"],
            "max_batch": max_batch,
            "batching_window_ms": round(window_s * 1000),
            # CPU time per migration (user + system) of this process (both nodes, or A with --nats) and of
            # B's process: which side is the bottleneck, less sensitive to other load than the rate.
            "cpu_ms_per_migration": {
                ("destination" if origin else "both nodes"): round(1000 * cpu_here / n, 2),
                **({"origin": round(1000 * cpu_origin / n, 2)} if origin else {}),
            },
            "check": report.to_json()["counts"],
            "check_seconds": report.seconds,
            **({"sql_nodes": [A] if nats_url else [A, B]} if sql_top > 0 else {}),
            **({"sql": profile.summary(sql_top, per=n)} if sql_top > 0 else {}),
        },
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("migrate")
    def bench_migrate(
        n: Annotated[int, typer.Option("--n", help="Migrations.")] = 300,
        arrival_rate: Annotated[float, typer.Option("--rate", help="Arrivals per second.")] = 50.0,
        db_a: Annotated[
            str | None, typer.Option(help="Node A's scratch database URL (default: SQLite in a temp dir).")
        ] = None,
        db_b: Annotated[
            str | None, typer.Option(help="Node B's scratch database URL (default: SQLite in a temp dir).")
        ] = None,
        max_batch: Annotated[
            int,
            typer.Option(
                "--batch", help="Most cases per destination transaction (accept, approve, move-in)."
            ),
        ] = 100,
        window_ms: Annotated[
            float,
            typer.Option(
                "--window-ms",
                help="Batching window: arrivals wait until the oldest has waited this long (or the batch is "
                "full), and attached certificates are looked for once per window.",
            ),
        ] = 0.0,
        sql_top: Annotated[
            int,
            typer.Option(
                "--sql-profile",
                help="Also time every SQL statement of both nodes during the run and report the N costliest "
                "per migration (details.sql; statements' text only, never their values).",
            ),
        ] = 0,
        nats_url: Annotated[
            str | None,
            typer.Option(
                "--nats",
                help="NATS URL: run node B as a process of its own and exchange over JetStream "
                "(default: both nodes in this process, embedded transport).",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Completed migrations/s at a fixed arrival rate between two nodes, p50/p99, vs bare commits/s."""
        import tongban.migration.service  # noqa: F401  (registers the mig.*.v1 message types)

        with tempfile.TemporaryDirectory(prefix="tongban-bench-") as tmp:
            result = run_bench(
                n=n,
                arrival_rate=arrival_rate,
                db_a=db_a,
                db_b=db_b,
                data_dir=Path(tmp),
                max_batch=max_batch,
                window_s=window_ms / 1000,
                sql_top=sql_top,
                nats_url=nats_url,
            )
        report(result, as_json)
