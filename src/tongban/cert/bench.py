"""``tongban bench cert``: completed certificate cases per second between two nodes.

Node B (310000) holds a synthetic register: ``--n`` households of a head and a spouse. Node A (110000)
accepts one kinship certificate case per head at the window (case, consent, audit, encrypted signed request,
one transaction each) while the exchange runs; B checks its register, logs the read, issues and signs the
paper and answers; A verifies the paper against the directory, attaches it and completes the case. The figure
is cases completed per second from the first acceptance to the last completion; the latency is acceptance to
completion per case (p50/p95/p99). The baseline is the raw commit rate of A's database in the same run: as many
bare single-row ``UPDATE`` transactions on the same table. Databases default to SQLite files in a temporary
directory; ``--db-a`` / ``--db-b`` name scratch PostgreSQL databases (migrated here; their registers must be
empty).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select, update

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.core import migrate
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.runtime import node_exchange, transport_for
from tongban.exchange.settings import ExchangeSettings
from tongban.idnum.domain import make_id_number

A, B = "110000", "310000"
AREA = "310104"


def _populate(b: NodeContext, n: int) -> list[str]:
    from tongban.registry import service as registry
    from tongban.registry import store as registry_store

    with b.db.session() as s:
        if not registry_store.is_empty(s):
            raise typer.BadParameter("node B's register must be empty (give a scratch database)")
    heads = []
    with progress("register at B", n) as advance:
        for i in range(n):
            born = date(1960, 1, 1) + timedelta(days=i // 400)
            head = make_id_number(AREA, born, 1 + 2 * (i % 400))  # odd: male
            spouse = make_id_number(AREA, born, 2 + 2 * (i % 400))  # even: female
            number = f"BH{i:08d}"
            registry.create_household(
                b,
                actor="bench",
                number=number,
                kind="family",
                address=f"上海市徐汇区测试路{i}号",
                division_code=AREA,
                on_date=date(2020, 1, 1),
            )
            for id_number, relation, sex, name in (
                (head, "head", "male", "测试甲"),
                (spouse, "spouse", "female", "测试乙"),
            ):
                registry.register_person(
                    b,
                    actor="bench",
                    household_number=number,
                    relation=relation,
                    event="moved_in",
                    name=name,
                    sex=sex,
                    birth_date=born,
                    ethnicity="01",
                    birthplace=AREA,
                    id_number=id_number,
                    on_date=date(2020, 1, 1),
                )
            heads.append(head)
            advance(1)
    return heads


def _wait_located(b: NodeContext, loc: NodeContext, timeout: float = 600) -> None:
    """Until the locator applied every registration change B reported (before the clock starts)."""
    from tongban.exchange.tables import InboxRow, OutboxRow

    sent_q = select(func.count()).select_from(OutboxRow).where(OutboxRow.recipient == LOCATOR_CODE)
    applied_q = select(func.count()).select_from(InboxRow).where(InboxRow.state == "applied")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with b.db.session() as s:
            sent = int(s.scalar(sent_q) or 0)
        with loc.db.session() as s:
            if int(s.scalar(applied_q) or 0) >= sent:
                return
        time.sleep(0.05)
    raise RuntimeError("the locator did not learn B's registrations in time")


def run_bench(*, n: int, db_a: str | None, db_b: str | None, data_dir: Path) -> BenchResult:
    from tongban.cases import window
    from tongban.cert.service import accept_certificate
    from tongban.cert.tables import CertRequestRow

    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    for code, name in ((A, "北京市"), (B, "上海市"), (LOCATOR_CODE, "全国人口定位")):
        directory_admin.add_node(data_dir, code=code, name=name, now=now)
    xs = ExchangeSettings(poll_interval_s=0.01, resend_initial_s=30.0)
    settings = Settings(data_dir=data_dir)
    a = open_node(NodeEntry(A, "北京市", db_a), settings)
    b = open_node(NodeEntry(B, "上海市", db_b), settings)
    # The national locator routes every request (its own SQLite database: not what is measured).
    loc = open_node(
        NodeEntry(LOCATOR_CODE, "全国人口定位", f"sqlite:///{data_dir / 'locator.sqlite3'}"), settings
    )
    for node in (a, b, loc):
        migrate.upgrade(node.db)
        node_exchange(node, data_dir, xs)
        from tongban.papers.directory import DirectorySignerSource
        from tongban.papers.service import KEYS_SERVICE

        node.services[KEYS_SERVICE] = DirectorySignerSource(node.services["exchange"].directory, data_dir)
    heads = _populate(b, n)
    clerk = window.Actor(id="user:bench-clerk", office="OFF-BENCH", division="110105")
    runner = ExchangeRunner(
        [a.services["exchange"], b.services["exchange"], loc.services["exchange"]],
        lambda: transport_for(None, xs),
    )
    closed = select(func.count()).select_from(CertRequestRow).where(CertRequestRow.closed_at.is_not(None))
    runner.start()
    try:
        _wait_located(b, loc)
        start = time.perf_counter()
        with progress("accept at A", n) as advance:
            for head in heads:
                applicant = window.Applicant(id_number=head, phone=None, email=None, locale="zh_CN")
                accept_certificate(a, actor=clerk, applicant=applicant, kind="kinship", purpose="基准测试")
                advance(1)
        with progress("completed", n) as advance:
            done = 0
            while done < n:
                time.sleep(0.05)
                with a.db.session() as s:
                    now_done = int(s.scalar(closed) or 0)
                advance(now_done - done)
                done = now_done
        elapsed = time.perf_counter() - start
    finally:
        runner.stop()
    with a.db.session() as s:
        rows = s.execute(
            select(
                CertRequestRow.id, CertRequestRow.state, CertRequestRow.created_at, CertRequestRow.closed_at
            )
        ).all()
    latencies = [(r.closed_at - r.created_at).total_seconds() * 1000 for r in rows if r.closed_at is not None]
    issued = sum(1 for r in rows if r.state == "issued")
    base_start = time.perf_counter()
    with progress("baseline: bare commits at A", n) as advance:
        for r in rows:
            with a.db.transaction() as s:
                s.execute(update(CertRequestRow).where(CertRequestRow.id == r.id).values(reason=None))
            advance(1)
    baseline = rate(len(rows), time.perf_counter() - base_start)
    figure = rate(n, elapsed)
    for node in (a, b, loc):
        node.db.dispose()
    return BenchResult(
        workload="cert",
        figure=Measure("completed certificate cases per second", round(figure, 1), "1/s"),
        baseline=Measure(
            "bare single-row update transactions per second (node A's database)", round(baseline, 1), "1/s"
        ),
        ratio=round(figure / baseline, 4) if baseline else 0.0,
        latency_ms=percentiles(latencies),
        details={
            "cases": n,
            "issued": issued,
            "transport": "embedded",
            "backend_a": a.db.backend,
            "backend_b": b.db.backend,
            "seconds": round(elapsed, 2),
            "latency": "acceptance at A to completion at A, per case (locator question included)",
        },
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("cert")
    def bench_cert(
        n: Annotated[int, typer.Option("--n", help="Certificate cases.")] = 300,
        db_a: Annotated[
            str | None, typer.Option(help="Node A's scratch database URL (default: SQLite in a temp dir).")
        ] = None,
        db_b: Annotated[
            str | None, typer.Option(help="Node B's scratch database URL (default: SQLite in a temp dir).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Completed certificate cases/s between two embedded nodes, with p50/p99, against bare commits/s."""
        import tongban.cert.service  # noqa: F401  (registers the CERT message types)

        with tempfile.TemporaryDirectory(prefix="tongban-bench-") as tmp:
            result = run_bench(n=n, db_a=db_a, db_b=db_b, data_dir=Path(tmp))
        report(result, as_json)
