"""Two nodes as separate processes, each on its own PostgreSQL database, over a test-owned JetStream server,
with the fault wrapper dropping, duplicating, delaying and reordering publications in both processes.

A process is SIGKILLed at a crash point (sender: between commit and publish, or between publish and the outbox
update; receiver: between inbox insert and broker ack, or between apply and receipt), or the broker is killed
mid-stream; after restarts every message is applied exactly once and every outbox row is acknowledged.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from exchange_support import NODES, NatsServer, wait_until
from sqlalchemy import func, select
from tests.conftest import missing_service

import tongban.exchange.probe  # noqa: F401  (registers the probe type)
from tongban.core.db import Database
from tongban.core.node import NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import directory_admin, store
from tongban.exchange.probe import PROBE_TYPE
from tongban.exchange.runtime import node_exchange
from tongban.exchange.service import enqueue
from tongban.exchange.tables import OutboxRow, ProbeRow

SRC = Path(__file__).resolve().parents[2] / "src"
N = 20
FAST = {
    "TONGBAN_EXCHANGE_RESEND_INITIAL_S": "0.5",
    "TONGBAN_EXCHANGE_RESEND_MAX_S": "1.0",
    "TONGBAN_EXCHANGE_RESEND_MAX_ATTEMPTS": "1000",
    "TONGBAN_EXCHANGE_POLL_INTERVAL_S": "0.02",
    "TONGBAN_EXCHANGE_FETCH_TIMEOUT_S": "0.1",
    "TONGBAN_EXCHANGE_ACK_WAIT_S": "2",
    "TONGBAN_EXCHANGE_DUPLICATE_WINDOW_S": "2",
    "TONGBAN_EXCHANGE_DIRECTORY_REFRESH_S": "5",
    # And the transport drops, duplicates, delays and reorders on top of the crash.
    "TONGBAN_EXCHANGE_FAULT_DROP": "0.1",
    "TONGBAN_EXCHANGE_FAULT_DUPLICATE": "0.2",
    "TONGBAN_EXCHANGE_FAULT_DELAY": "0.1",
    "TONGBAN_EXCHANGE_FAULT_REORDER": "0.1",
}


class NodeProcess:
    def __init__(self, code: str, db_url: str, nats_url: str, data_dir: Path, log: Path) -> None:
        self.code, self.db_url, self.nats_url, self.data_dir, self.log = code, db_url, nats_url, data_dir, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, crash_at: str | None = None, crash_after: int = 1) -> None:
        env = {**os.environ, "PYTHONPATH": str(SRC), **FAST, "TONGBAN_EXCHANGE_FAULT_SEED": str(self.starts)}
        self.starts += 1
        env.pop("TONGBAN_EXCHANGE_CRASH_AT", None)
        if crash_at:
            env["TONGBAN_EXCHANGE_CRASH_AT"] = crash_at
            env["TONGBAN_EXCHANGE_CRASH_AFTER"] = str(crash_after)
        cmd = [sys.executable, "-m", "tongban", "exchange", "run", "--node", self.code, "--db", self.db_url]
        cmd += ["--nats", self.nats_url, "--data-dir", str(self.data_dir)]
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=fh)

    def wait_killed(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def acknowledged(db: Database) -> int:
    with db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == store.OUT_ACKED))
            or 0
        )


def probes(db: Database) -> tuple[int, int]:
    """(rows, distinct envelope ids) in the probe log."""
    with db.session() as s:
        rows = int(s.scalar(select(func.count()).select_from(ProbeRow)) or 0)
        distinct = int(s.scalar(select(func.count(func.distinct(ProbeRow.envelope_id)))) or 0)
    return rows, distinct


@pytest.fixture
def two_pg(pg_factory: Any) -> tuple[str, str]:
    if pg_factory is None:
        missing_service("PostgreSQL")
    return pg_factory.new(), pg_factory.new()


CASES = [
    ("110000", "relay.before_publish", 5),
    ("110000", "relay.after_publish", 5),
    ("310000", "receive.after_inbox", 5),
    ("310000", "apply.after_commit", 5),
    (None, "broker.restart", 0),
]


@pytest.mark.slow
@pytest.mark.parametrize(("victim", "point", "after"), CASES, ids=[c[1] for c in CASES])
def test_every_message_applied_exactly_once_after_a_crash(
    tmp_path: Path, two_pg: tuple[str, str], victim: str | None, point: str, after: int
) -> None:
    from datetime import UTC, datetime

    data_dir = tmp_path / "nation"
    now = datetime.now(UTC)
    directory_admin.init(data_dir, now=now)
    for code in ("110000", "310000"):
        directory_admin.add_node(data_dir, code=code, name=NODES[code], now=now)
    server = NatsServer(tmp_path / "js")
    server.start()
    settings = Settings(data_dir=data_dir)
    sender_ctx = open_node(NodeEntry("110000", NODES["110000"], two_pg[0]), settings)
    receiver_db = Database(two_pg[1], settings)
    sender = node_exchange(sender_ctx, data_dir)
    procs = {
        "110000": NodeProcess("110000", two_pg[0], server.url, data_dir, tmp_path / "110000.log"),
        "310000": NodeProcess("310000", two_pg[1], server.url, data_dir, tmp_path / "310000.log"),
    }
    try:
        for i in range(N):
            with sender_ctx.db.transaction() as s:
                enqueue(s, node=sender_ctx, recipient="310000", type=PROBE_TYPE, body={"label": f"p-{i}"})
        for code, proc in procs.items():
            proc.start(crash_at=point if code == victim else None, crash_after=after)
        if victim is not None:
            code = procs[victim].wait_killed(60)
            assert code == -signal.SIGKILL, (tmp_path / f"{victim}.log").read_text()
            procs[victim].start()
        else:
            assert wait_until(lambda: probes(receiver_db)[0] >= 3, 60)
            server.kill()
            time.sleep(1.0)
            server.start()
        assert wait_until(lambda: acknowledged(sender_ctx.db) == N and probes(receiver_db)[0] >= N, 90), (
            tmp_path / "110000.log"
        ).read_text() + (tmp_path / "310000.log").read_text()
        time.sleep(1.5)  # let any late duplicate arrive before counting
        assert probes(receiver_db) == (N, N)
        for code in procs:
            assert "injected faults" in (tmp_path / f"{code}.log").read_text()
    finally:
        for proc in procs.values():
            proc.stop()
        server.kill()
        sender_ctx.db.dispose()
        receiver_db.dispose()
    assert sender.code == "110000"
