"""Receipts: cumulative, signed, negative with the reason; a retryable refusal keeps the message alive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from exchange_support import Capture, Nation, effect_keys, fast_settings
from sqlalchemy import select

from tongban.core.db import Database
from tongban.exchange import directory_admin, store
from tongban.exchange.domain import RECEIPT_TYPE, parse
from tongban.exchange.service import (
    NodeExchange,
    Outcome,
    apply_due,
    enqueue,
    receive,
    relay_due,
    send_receipts,
)
from tongban.exchange.tables import OutboxRow, RejectionRow


def outbox(ex: NodeExchange) -> dict[str, tuple[str, str | None]]:
    with ex.node.db.session() as s:
        return {r.id: (r.state, r.reason) for r in s.scalars(select(OutboxRow))}


def test_one_cumulative_receipt_acknowledges_many(
    nation: Nation, database: Database, other_db: Database
) -> None:
    bj = nation.exchange("110000", database)
    sh = nation.exchange("310000", other_db)
    with bj.node.db.transaction() as s:
        for i in range(5):
            enqueue(
                s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": f"k{i}", "text": "t"}
            )
    wire = Capture()
    assert asyncio.run(relay_due(bj, wire)) == 5
    assert {st for st, _ in outbox(bj).values()} == {store.OUT_SENT}
    for _, _, raw in wire.sent:
        assert receive(sh, raw) is Outcome.ACCEPTED
    back = Capture()
    assert asyncio.run(send_receipts(sh, back)) == 5
    assert len(back.sent) == 1  # one receipt for all five
    receipt = parse(back.sent[0][2])
    assert receipt.type == RECEIPT_TYPE and len(receipt.body["items"]) == 5  # type: ignore[index]
    assert receive(bj, back.sent[0][2]) is Outcome.RECEIPT
    assert {st for st, _ in outbox(bj).values()} == {store.OUT_ACKED}
    # Receipts are not receipted, and nothing more is owed.
    assert asyncio.run(send_receipts(bj, Capture())) == 0
    assert asyncio.run(send_receipts(sh, Capture())) == 0
    # A re-send is answered with the stored receipt and applies nothing.
    apply_due(sh)
    assert receive(sh, wire.sent[0][2]) is Outcome.DUPLICATE
    again = Capture()
    assert asyncio.run(send_receipts(sh, again)) == 1
    assert apply_due(sh) == 0 and len(effect_keys(other_db)) == 5


def test_a_refusal_is_reported_in_a_negative_receipt(
    nation: Nation, database: Database, other_db: Database
) -> None:
    bj = nation.exchange("110000", database)
    # The receiver accepts messages of one minute at most, and this one is older.
    sh = nation.exchange("310000", other_db, settings=fast_settings(accept_window_s=60.0))
    with bj.node.db.transaction() as s:
        eid = enqueue(
            s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": "old", "text": "t"}
        )
    bj.node.clock = _Shifted(
        timedelta(minutes=5)
    )  # the sender's clock runs ahead: the receiver sees it as old
    sh.node.clock = _Shifted(timedelta(minutes=5))
    wire = Capture()
    asyncio.run(relay_due(bj, wire))
    assert receive(sh, wire.sent[0][2]) is Outcome.REJECTED
    back = Capture()
    assert asyncio.run(send_receipts(sh, back)) == 1
    assert receive(bj, back.sent[0][2]) is Outcome.RECEIPT
    assert outbox(bj)[str(eid)] == (store.OUT_REJECTED, "stale")
    assert effect_keys(other_db) == []


def test_an_unknown_key_keeps_the_message_alive_until_the_receiver_learns_it(
    nation: Nation, database: Database, other_db: Database
) -> None:
    bj = nation.exchange("110000", database)
    sh = nation.exchange("310000", other_db)
    assert sh.directory.current.serial == 4  # the receiver knows the directory before the rotation
    directory_admin.rotate_key(
        nation.data_dir,
        code="110000",
        purpose="envelopes",
        now=datetime.now(UTC) - timedelta(seconds=1),
        lead=timedelta(0),
    )
    bj.directory.refresh()  # the sender signs with its new key at once
    with bj.node.db.transaction() as s:
        eid = enqueue(
            s, node=bj.node, recipient="310000", type="test.note.v1", body={"key": "k", "text": "t"}
        )
    wire = Capture()
    asyncio.run(relay_due(bj, wire))
    raw = wire.sent[0][2]
    # The receiver's directory source is unreadable for a moment: it cannot learn the key and refuses, retryably.
    real = sh.directory.refresh
    sh.directory.refresh = _fail_refresh  # type: ignore[method-assign]
    try:
        assert receive(sh, raw) is Outcome.REJECTED
    finally:
        sh.directory.refresh = real  # type: ignore[method-assign]
    with other_db.session() as s:
        row = s.scalars(select(RejectionRow)).one()
        assert (row.reason, row.retryable, row.receipt_due) == ("unknown-key", True, True)
        assert (row.sender, row.envelope_id) == ("110000", str(eid))
    back = Capture()
    asyncio.run(send_receipts(sh, back))
    assert receive(bj, back.sent[0][2]) is Outcome.RECEIPT
    state, reason = outbox(bj)[str(eid)]
    assert state == store.OUT_SENT and reason == "unknown-key"  # still open: it will be re-sent
    assert receive(sh, raw) is Outcome.ACCEPTED  # the re-send, once the directory is readable
    assert apply_due(sh) == 1


def _fail_refresh() -> None:
    raise OSError("directory unreadable")


class _Shifted:
    def __init__(self, delta: timedelta) -> None:
        self.delta = delta

    def now(self) -> datetime:
        return datetime.now(UTC) + self.delta
