"""Two nodes in one process over the embedded transport: every message applied exactly once, even when the
transport drops, duplicates, delays and reorders; early messages wait; failing ones park without blocking."""

from __future__ import annotations

import pytest
from exchange_support import Nation, effect_keys, fast_settings, wait_until
from sqlalchemy import select

from tongban.core.db import Database
from tongban.exchange import store
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import NodeExchange, enqueue, retry_parked, status
from tongban.exchange.tables import InboxRow, OutboxRow
from tongban.exchange.transport import EmbeddedTransport, Faults, FaultyTransport

N = 40


def send(
    sender: NodeExchange, recipient: str, key: str, text: str = "note", after: str | None = None
) -> None:
    with sender.node.db.transaction() as s:
        enqueue(
            s,
            node=sender.node,
            recipient=recipient,
            type="test.note.v1",
            body={"key": key, "text": text, "after": after},
            case_ref="case-1",
        )


def outbox_states(ex: NodeExchange) -> list[str]:
    with ex.node.db.session() as s:
        return list(s.scalars(select(OutboxRow.state)))


def all_acknowledged(ex: NodeExchange, n: int) -> bool:
    states = outbox_states(ex)
    return len(states) == n and all(st == store.OUT_ACKED for st in states)


@pytest.mark.parametrize("seed", [7])
def test_exactly_once_with_drops_duplicates_delays_and_reorders(
    nation: Nation, database: Database, other_db: Database, seed: int
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    faults = Faults(drop=0.2, duplicate=0.3, delay=0.2, reorder=0.2)
    transport = FaultyTransport(EmbeddedTransport(), faults, seed)
    runner = ExchangeRunner([beijing, shanghai], lambda: transport)
    runner.start()
    try:
        for i in range(N):
            send(beijing, "310000", f"bj-{i}")
            send(shanghai, "110000", f"sh-{i}")
        assert wait_until(lambda: len(effect_keys(other_db)) >= N and len(effect_keys(database)) >= N, 60)
        assert wait_until(lambda: all_acknowledged(beijing, N) and all_acknowledged(shanghai, N), 60)
    finally:
        runner.stop()
    assert sorted(effect_keys(other_db)) == sorted(f"bj-{i}" for i in range(N))
    assert sorted(effect_keys(database)) == sorted(f"sh-{i}" for i in range(N))
    assert transport.counts["dropped"] > 0 and transport.counts["duplicated"] > 0
    assert transport.counts["held"] > 0 and transport.counts["delayed"] > 0
    peers = {p.peer: p for p in status(beijing)}
    assert peers["310000"].acknowledged == N and peers["310000"].applied == N


def test_a_message_that_arrives_early_waits_for_its_dependency(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    runner = ExchangeRunner([beijing, shanghai], EmbeddedTransport)
    runner.start()
    try:
        send(beijing, "310000", "second", after="first")
        assert wait_until(lambda: _inbox_states(shanghai) == ["waiting"], 10)
        send(beijing, "310000", "first")
        assert wait_until(lambda: len(effect_keys(other_db)) == 2, 10)
    finally:
        runner.stop()
    assert effect_keys(other_db) == ["first", "second"]


def _inbox_states(ex: NodeExchange) -> list[str]:
    with ex.node.db.session() as s:
        return list(s.scalars(select(InboxRow.state).order_by(InboxRow.seq)))


def test_a_failing_handler_is_parked_without_blocking_others_and_an_operator_retries(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db, settings=fast_settings(apply_max_attempts=2))
    runner = ExchangeRunner([beijing, shanghai], EmbeddedTransport)
    runner.start()
    try:
        send(beijing, "310000", "bad", text="explode")
        for i in range(5):
            send(beijing, "310000", f"ok-{i}")
        assert wait_until(lambda: len(effect_keys(other_db)) == 5 and "parked" in _inbox_states(shanghai), 15)
        with other_db.session() as s:
            parked = s.scalars(select(InboxRow).where(InboxRow.state == "parked")).one()
            assert parked.error is not None and "ValueError" in parked.error
            assert parked.attempts == 2
        peers = {p.peer: p for p in status(shanghai)}
        assert peers["110000"].inbox_parked == 1 and peers["110000"].applied == 5
        # The sender got its (positive) receipt: the message was accepted, its application is the receiver's.
        assert wait_until(lambda: all_acknowledged(beijing, 6), 10)
        # The operator fixes the cause (here: the handler) and retries.
        shanghai.handlers["test.note.v1"] = lambda session, node, incoming: _always_apply(session, incoming)
        assert retry_parked(shanghai) == 1
        assert wait_until(lambda: len(effect_keys(other_db)) == 6, 10)
    finally:
        runner.stop()
    assert _inbox_states(shanghai).count("applied") == 6


def _always_apply(session, incoming) -> None:  # type: ignore[no-untyped-def]
    from exchange_support import Effect

    session.add(Effect(key=incoming.message.key))


def test_without_receipts_the_sender_resends_then_parks(nation: Nation, database: Database) -> None:
    beijing = nation.exchange(
        "110000",
        database,
        settings=fast_settings(resend_initial_s=0.05, resend_max_s=0.05, resend_max_attempts=3),
    )
    # Nobody runs 310000 here: no receipt will ever come.
    transport = EmbeddedTransport()
    runner = ExchangeRunner([beijing], lambda: transport)
    runner.start()
    try:
        send(beijing, "310000", "lost")
        assert wait_until(lambda: outbox_states(beijing) == ["parked"], 10)
    finally:
        runner.stop()
    assert transport.published == 3
    with database.session() as s:
        row = s.scalars(select(OutboxRow)).one()
        assert row.attempts == 3 and row.reason == "no receipt"
    assert retry_parked(beijing) == 1
    assert outbox_states(beijing) == ["queued"]
