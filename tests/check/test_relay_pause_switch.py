"""The relay's pause switch (``tongban.exchange.control``): while paused the relay publishes nothing new but
still re-sends what it published before; resumed, it publishes the rest; a pause expires by itself."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select, update
from tests.exchange.exchange_support import Nation, nation

from tongban.core.db import Database
from tongban.exchange import control, store
from tongban.exchange.service import enqueue, relay_due
from tongban.exchange.tables import OutboxRow

__all__ = ["nation"]


class Capture:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        self.sent.append(msg_id)


def test_pause_holds_new_messages_only(nation: Nation, database: Database) -> None:
    bj = nation.exchange("110000", database)
    with bj.node.db.transaction() as s:
        first = enqueue(
            s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": "a", "text": "t"}
        )
    assert asyncio.run(relay_due(bj, Capture())) == 1  # published once, awaiting its receipt
    with bj.node.db.transaction() as s:
        second = enqueue(
            s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": "b", "text": "t"}
        )
        s.execute(update(OutboxRow).values(next_attempt_at=bj.now()))  # both due now

    control.pause_relay(bj.node.db, now=bj.now(), for_s=60, by="test")
    time.sleep(control.SETTLE_S)
    wire = Capture()
    asyncio.run(relay_due(bj, wire))
    assert wire.sent == [str(first)]  # the re-send goes out; the new message waits
    assert _state(bj.node.db, str(second)) == store.OUT_QUEUED

    control.resume_relay(bj.node.db)
    assert control.paused_until(bj.node.db) is None
    time.sleep(control.SETTLE_S)
    wire = Capture()
    asyncio.run(relay_due(bj, wire))
    assert str(second) in wire.sent and _state(bj.node.db, str(second)) == store.OUT_SENT

    # A pause that was never lifted (its checker died) ends by itself.
    with bj.node.db.transaction() as s:
        third = enqueue(
            s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": "c", "text": "t"}
        )
    control.pause_relay(bj.node.db, now=bj.now() - timedelta(seconds=120), for_s=60, by="test")
    time.sleep(control.SETTLE_S)
    wire = Capture()
    asyncio.run(relay_due(bj, wire))
    assert str(third) in wire.sent


def _state(db: Database, eid: str) -> str:
    with db.session() as s:
        return str(s.scalar(select(OutboxRow.state).where(OutboxRow.id == eid)))
