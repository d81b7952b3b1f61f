"""Two nodes over NATS JetStream: exactly once under faults, and across a broker restart mid-stream."""

from __future__ import annotations

import time
from pathlib import Path

from exchange_support import (
    Nation,
    NatsServer,
    delete_stream,
    effect_keys,
    unique_stream_settings,
    wait_until,
)
from sqlalchemy import select

from tongban.core.db import Database
from tongban.exchange import store
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import NodeExchange, enqueue
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import Faults, FaultyTransport, JetStreamTransport


def send(sender: NodeExchange, recipient: str, key: str) -> None:
    with sender.node.db.transaction() as s:
        enqueue(s, node=sender.node, recipient=recipient, type="test.note.v1", body={"key": key, "text": "t"})


def acknowledged(ex: NodeExchange) -> int:
    with ex.node.db.session() as s:
        return len(list(s.scalars(select(OutboxRow.id).where(OutboxRow.state == store.OUT_ACKED))))


def test_exactly_once_over_jetstream_with_faults(
    nation: Nation, database: Database, other_db: Database, nats_url: str
) -> None:
    settings = unique_stream_settings()
    beijing = nation.exchange("110000", database, settings=settings)
    shanghai = nation.exchange("310000", other_db, settings=settings)
    faults = Faults(drop=0.15, duplicate=0.3, delay=0.15, reorder=0.15)
    # Each process has its own connection: here one runner per node, as two node processes would.
    r1 = ExchangeRunner(
        [beijing], lambda: FaultyTransport(JetStreamTransport(nats_url, settings), faults, 11)
    )
    r2 = ExchangeRunner(
        [shanghai], lambda: FaultyTransport(JetStreamTransport(nats_url, settings), faults, 12)
    )
    r1.start()
    r2.start()
    n = 30
    try:
        for i in range(n):
            send(beijing, "310000", f"bj-{i}")
            send(shanghai, "110000", f"sh-{i}")
        assert wait_until(lambda: acknowledged(beijing) == n and acknowledged(shanghai) == n, 60)
    finally:
        r1.stop()
        r2.stop()
        delete_stream(nats_url, settings.stream_name)
    assert sorted(effect_keys(other_db)) == sorted(f"bj-{i}" for i in range(n))
    assert sorted(effect_keys(database)) == sorted(f"sh-{i}" for i in range(n))


def test_a_broker_restart_mid_stream_loses_nothing(
    nation: Nation, database: Database, other_db: Database, tmp_path: Path
) -> None:
    server = NatsServer(tmp_path / "js")
    server.start()
    settings = unique_stream_settings()
    beijing = nation.exchange("110000", database, settings=settings)
    shanghai = nation.exchange("310000", other_db, settings=settings)
    r1 = ExchangeRunner([beijing], lambda: JetStreamTransport(server.url, settings))
    r2 = ExchangeRunner([shanghai], lambda: JetStreamTransport(server.url, settings))
    r1.start()
    r2.start()
    n = 40
    try:
        for i in range(n // 2):
            send(beijing, "310000", f"k-{i}")
        time.sleep(0.3)
        server.kill()  # SIGKILL: the broker may lose what it had not synced
        for i in range(n // 2, n):
            send(beijing, "310000", f"k-{i}")
        time.sleep(0.5)
        server.start()  # same port, same store dir: the clients reconnect
        assert wait_until(lambda: acknowledged(beijing) == n, 60)
        assert wait_until(lambda: len(effect_keys(other_db)) == n, 30)
    finally:
        r1.stop()
        r2.stop()
        server.kill()
    assert sorted(effect_keys(other_db)) == sorted(f"k-{i}" for i in range(n))
