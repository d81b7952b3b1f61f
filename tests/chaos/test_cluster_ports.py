"""The ports that runs and tests give their servers, and a JetStream cluster that finds one of them taken."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from tests.conftest import missing_service

from tongban.chaos import cluster
from tongban.chaos.cluster import NatsCluster, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_are_never_handed_out_twice() -> None:
    low = cluster._ephemeral_low()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    if low > cluster._LOWEST_PORT + 1000:
        # No outgoing connection can take one as its source port before its server binds it.
        assert all(cluster._LOWEST_PORT <= p < low for p in ports)
    for p in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", p))


def test_a_taken_port_leaves_the_port_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port some other process listens on is never handed out."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        choices = iter([taken, taken, taken + 1 if taken < 60_000 else taken - 1])
        monkeypatch.setattr(cluster, "_ephemeral_low", lambda: 65_000)
        monkeypatch.setattr(cluster.random.SystemRandom, "randint", lambda _self, _a, _b: next(choices))
        got = free_port()
    assert got != taken


@pytest.mark.nats
def test_the_cluster_starts_on_new_ports_when_one_is_taken(tmp_path: Path) -> None:
    if shutil.which("nats-server") is None:
        missing_service("nats-server")
    nats = NatsCluster(tmp_path, "nats-server")
    with socket.socket() as squatter:
        # Another process got there first: server 1's client port is in use when it starts.
        squatter.bind(("127.0.0.1", nats.servers[1].port))
        squatter.listen()
        first = [s.port for s in nats.servers]
        try:
            nats.start_all()
            assert all(s.running for s in nats.servers)
            assert [s.port for s in nats.servers] != first
            assert nats.servers[1].port != squatter.getsockname()[1]
        finally:
            nats.stop_all(5)
    # The failed first start is in server 1's log, and said why.
    assert "address already in use" in (tmp_path / "nats-1.log").read_text().lower()
