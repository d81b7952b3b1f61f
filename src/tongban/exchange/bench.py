"""``tongban bench exchange``: end-to-end messages per second between two nodes.

Each message is signed, published, verified, deduplicated (inbox), applied (probe log) and receipted
(cumulative receipts), and counted once the sender's outbox row is acknowledged. In the same run the workload
measures raw JetStream acknowledged publishes per second (pipelined, same sizes) and Ed25519 verifies per second,
the two costs that bound the exchange; the ratio is end-to-end messages per Ed25519 verify.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tongban.bench.harness import BenchResult, Measure, progress, rate, report
from tongban.core import migrate
from tongban.core.node import NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import directory_admin, store
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.probe import PROBE_TYPE
from tongban.exchange.runtime import node_exchange, transport_for
from tongban.exchange.settings import ExchangeSettings
from tongban.exchange.tables import OutboxRow, ProbeRow


def ed25519_verifies_per_s(n: int, size: int) -> float:
    key = Ed25519PrivateKey.generate()
    pub = key.public_key()
    msg = os.urandom(size)
    sig = key.sign(msg)
    start = time.perf_counter()
    for _ in range(n):
        pub.verify(sig, msg)
    return rate(n, time.perf_counter() - start)


async def _raw_publishes(url: str, n: int, size: int, window: int) -> float:
    import nats
    from nats.js.api import StreamConfig

    tag = uuid.uuid4().hex[:8]
    nc = await nats.connect(url)
    js = nc.jetstream()
    stream = f"TBBENCH_RAW_{tag}"
    await js.add_stream(StreamConfig(name=stream, subjects=[f"tbbench.raw.{tag}"]))
    payload = os.urandom(size)
    try:
        start = time.perf_counter()
        for first in range(0, n, window):
            await asyncio.gather(
                *(
                    js.publish(f"tbbench.raw.{tag}", payload, headers={"Nats-Msg-Id": f"{tag}-{i}"})
                    for i in range(first, min(first + window, n))
                )
            )
        return rate(n, time.perf_counter() - start)
    finally:
        await js.delete_stream(stream)
        await nc.close()


def _count(db: object, stmt: object) -> int:
    from tongban.core.db import Database

    assert isinstance(db, Database)
    with db.session() as s:
        return int(s.scalar(stmt) or 0)  # type: ignore[call-overload]


_RECEIVER_SETTINGS = ("stream_name", "subject_prefix", "poll_interval_s", "resend_initial_s", "relay_batch")


def _start_receiver(
    nats_url: str, db_url: str, data_dir: Path, xs: ExchangeSettings
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    for name in (*_RECEIVER_SETTINGS, "apply_batch"):
        env[f"TONGBAN_EXCHANGE_{name.upper()}"] = str(getattr(xs, name))
    cmd = [sys.executable, "-m", "tongban", "exchange", "run", "--node", "310000", "--db", db_url]
    cmd += ["--nats", nats_url, "--data-dir", str(data_dir)]
    # Our own interpreter and module with arguments we built: no untrusted input.
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: S603
    assert child.stdout is not None
    line = child.stdout.readline()  # "exchange running for 310000" once its consumer exists
    if b"running" not in line:
        child.kill()
        child.wait()
        child.stdout.close()
        raise RuntimeError("the receiving node did not start")
    return child


def cpu_s(child: subprocess.Popen[bytes] | None) -> float:
    """CPU seconds (user + system) used so far by a child process (Linux ``/proc``; 0 elsewhere)."""
    if child is None:
        return 0.0
    try:
        fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop_receiver(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    if child.stdout is not None:
        child.stdout.close()


def run_bench(
    *,
    n: int,
    nats_url: str | None,
    db_a: str | None,
    db_b: str | None,
    data_dir: Path,
    processes: int = 2,
) -> BenchResult:
    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    for code, name in (("110000", "北京市"), ("310000", "上海市")):
        directory_admin.add_node(data_dir, code=code, name=name, now=now)
    tag = uuid.uuid4().hex[:8]
    xs = ExchangeSettings(
        stream_name=f"TBBENCH_{tag}",
        subject_prefix=f"tbbench.{tag}",
        poll_interval_s=0.01,
        resend_initial_s=30.0,
        relay_batch=500,
        apply_batch=500,
    )
    settings = Settings(data_dir=data_dir)
    a = open_node(NodeEntry("110000", "北京市", db_a), settings)
    b = open_node(NodeEntry("310000", "上海市", db_b), settings)
    for node in (a, b):
        migrate.upgrade(node.db)
    ex_a, ex_b = node_exchange(a, data_dir, xs), node_exchange(b, data_dir, xs)
    r_b: ExchangeRunner | None = None
    child: subprocess.Popen[bytes] | None = None
    if nats_url is None:
        # The embedded transport delivers within one loop: run both nodes on one runner.
        r_a = ExchangeRunner([ex_a, ex_b], lambda: transport_for(None, xs))
    else:
        r_a = ExchangeRunner([ex_a], lambda: transport_for(nats_url, xs))
        if processes == 2:
            # The receiver in a process of its own (`tongban exchange run`), as in production: one node per
            # process, each with its own interpreter, so the two nodes can use the two cores.
            child = _start_receiver(nats_url, b.db.url, data_dir, xs)
        else:
            # Both nodes in this process: own connections and event loops, but one interpreter lock.
            r_b = ExchangeRunner([ex_b], lambda: transport_for(nats_url, xs))
    # Prepare the messages before the clock starts (each enqueue signs, and encrypts where needed).
    from tongban.exchange.service import enqueue

    with progress("queueing", n) as advance, a.db.transaction() as s:
        for i in range(n):
            enqueue(
                s, node=a, recipient="310000", type=PROBE_TYPE, body={"label": f"b{i}", "padding": "x" * 200}
            )
            advance(1)
    payload_size = _count(a.db, select(func.avg(func.length(OutboxRow.raw))))
    start = time.perf_counter()
    cpu_here, cpu_child = time.process_time(), cpu_s(child)
    r_a.start()
    if r_b is not None:
        r_b.start()
    acked_stmt = select(func.count()).select_from(OutboxRow).where(OutboxRow.state == store.OUT_ACKED)
    try:
        with progress("exchanging", n) as advance:
            done = 0
            while done < n:
                time.sleep(0.1)  # a count of the outbox: the sender's own process pays for each poll
                now_done = _count(a.db, acked_stmt)
                advance(now_done - done)
                done = now_done
        elapsed = time.perf_counter() - start
        cpu_here, cpu_child = time.process_time() - cpu_here, cpu_s(child) - cpu_child
    finally:
        r_a.stop()
        if r_b is not None:
            r_b.stop()
        if child is not None:
            _stop_receiver(child)
    # As sent: the relay signed the payloads in batches (each envelope carries its Merkle path).
    size = _count(a.db, select(func.avg(func.length(OutboxRow.raw))))
    applied = _count(b.db, select(func.count()).select_from(ProbeRow))
    distinct = _count(b.db, select(func.count(func.distinct(ProbeRow.envelope_id))))
    e2e = rate(n, elapsed)
    verifies = ed25519_verifies_per_s(5000, payload_size)
    raw = asyncio.run(_raw_publishes(nats_url, 5000, size, 256)) if nats_url else None
    if nats_url:
        asyncio.run(delete_stream(nats_url, xs.stream_name))
    for node in (a, b):
        node.db.dispose()
    return BenchResult(
        workload="exchange",
        figure=Measure("end-to-end messages per second", round(e2e, 1), "1/s"),
        baseline=Measure("Ed25519 verifies per second", round(verifies, 1), "1/s"),
        ratio=round(e2e / verifies, 4),
        details={
            "messages": n,
            "applied": applied,
            "applied_distinct": distinct,
            "envelope_bytes": size,
            "transport": "jetstream" if nats_url else "embedded",
            "backend": a.db.backend,
            "raw_jetstream_acked_publishes_per_s": None if raw is None else round(raw, 1),
            "processes": 1 if child is None else 2,
            "seconds": round(elapsed, 2),
            # CPU time per message (user + system), less sensitive to other load than the rate: this
            # process (the sender, or both nodes) and the receiving node's process when it has its own.
            "cpu_ms_per_message": {
                ("sender" if child else "both nodes"): round(1000 * cpu_here / n, 3),
                **({"receiver": round(1000 * cpu_child / n, 3)} if child else {}),
            },
        },
    )


async def delete_stream(url: str, name: str) -> None:
    """Delete a bench run's own JetStream stream."""
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("exchange")
    def bench_exchange(
        n: Annotated[int, typer.Option("--n", help="Messages to exchange.")] = 3000,
        nats: Annotated[
            str | None, typer.Option(help="NATS URL (default TONGBAN_NATS_URL; none = embedded transport).")
        ] = None,
        db_a: Annotated[
            str | None, typer.Option(help="Sender database URL (default: SQLite in a temp dir).")
        ] = None,
        db_b: Annotated[
            str | None, typer.Option(help="Receiver database URL (default: SQLite in a temp dir).")
        ] = None,
        processes: Annotated[
            int,
            typer.Option(
                min=1, max=2, help="JetStream: 2 = the receiver in a process of its own; 1 = both nodes here."
            ),
        ] = 2,
        embedded: Annotated[
            bool, typer.Option(help="Use the embedded transport even if NATS is set.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """End-to-end messages/s between two nodes, with raw JetStream publishes/s and Ed25519 verifies/s."""
        import tongban.exchange.probe  # noqa: F401

        url = None if embedded else (nats or Settings().nats_url)
        with tempfile.TemporaryDirectory(prefix="tongban-bench-") as tmp:
            result = run_bench(
                n=n, nats_url=url, db_a=db_a, db_b=db_b, data_dir=Path(tmp), processes=processes
            )
        report(result, as_json)
