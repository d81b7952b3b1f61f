"""Browser tests against nodes served one process each (``tongban serve --node CODE --db URL --nats URL``),
each on a scratch PostgreSQL database of its own, over a nats-server with JetStream that the test starts on a
port of its own (never the shared broker).

The processes are ``tongban.chaos.cluster.NodeProcess`` (a process group each, stopped with SIGTERM then
SIGKILL); the environment is the test's own: the test's node secret (so the accounts prepared with it open in
the processes), plain-HTTP cookies, cheap password hashing, a quick exchange on one JetStream server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import TEST_SECRET_KEY, PgFactory, missing_service
from tests.e2e.cert_walk import ENV
from tests.exchange.exchange_support import NatsServer
from tongban.chaos.cluster import NodeProcess, free_port

SRC = Path(__file__).resolve().parents[2] / "src"


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "TONGBAN_SECRET_KEY": TEST_SECRET_KEY,
        "TONGBAN_LOG_LEVEL": "WARNING",
        "TONGBAN_DB_POOL_SIZE": "3",
        "TONGBAN_EXCHANGE_STREAM_REPLICAS": "1",  # one nats-server
        "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **ENV,
        **(extra or {}),
    }


def require_services(pg_factory: PgFactory | None) -> PgFactory:
    if pg_factory is None:
        missing_service("PostgreSQL")
        raise AssertionError("unreachable")
    if shutil.which("nats-server") is None:
        missing_service("nats-server")
    return pg_factory


@dataclass
class NodeProcesses:
    """The nation's node processes and their broker; ``close()`` stops whatever was started."""

    root: Path
    data_dir: Path
    db_urls: dict[str, str]
    env: dict[str, str]
    nats: NatsServer = field(init=False)
    procs: dict[str, NodeProcess] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.nats = NatsServer(self.root / "jetstream")

    def start(self, timeout: float = 90) -> None:
        self.nats.start()
        for code, url in self.db_urls.items():
            self.procs[code] = NodeProcess(
                code, url, self.nats.url, self.data_dir, free_port(), self.root / f"node-{code}.log", self.env
            )
            self.procs[code].start()
        for proc in self.procs.values():
            proc.wait_ready(timeout)

    def url(self, code: str) -> str:
        return self.procs[code].url

    def logs(self) -> str:
        return "".join(
            f"--- {code} ---\n{p.log.read_text()}" for code, p in self.procs.items() if p.log.exists()
        )

    def close(self) -> None:
        # All at once: each takes a few seconds to stop its exchange loops.
        with ThreadPoolExecutor(max_workers=max(1, len(self.procs))) as pool:
            list(pool.map(lambda proc: proc.stop(15), self.procs.values()))
        self.nats.kill()


def node_processes(
    root: Path, data_dir: Path, db_urls: dict[str, str], env: dict[str, str]
) -> Iterator[NodeProcesses]:
    """Start the processes (the body of a fixture); stop them afterwards."""
    nodes = NodeProcesses(root, data_dir, db_urls, env)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.close()
