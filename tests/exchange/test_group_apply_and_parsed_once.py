"""The worker's shortcuts change nothing that is applied: group handlers have the single handlers' effects in
order (and are not used once a group fails), an envelope parsed on receipt is not parsed again, one parsed
elsewhere is, and the pump's one-query check says exactly which step has work."""

from __future__ import annotations

import asyncio

import pytest
from exchange_support import Effect, Nation, effect_keys, fast_settings
from sqlalchemy.orm import Session

from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange import domain, service
from tongban.exchange.service import (
    Incoming,
    apply_due,
    due_work,
    enqueue,
    receive,
    receive_batch,
    relay_due,
    send_receipts,
)


def group_note_handler(session: Session, node: NodeContext, incomings: list[Incoming]) -> None:
    for incoming in incomings:
        if incoming.message.text == "explode":  # type: ignore[attr-defined]
            raise ValueError("handler failure")
        session.add(Effect(key="g:" + incoming.message.key))  # type: ignore[attr-defined]


def test_group_handler_gets_consecutive_runs_in_order(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database, settings=fast_settings(apply_group=10))
    ex.group_handlers = {"test.note.v1": group_note_handler}
    sent = [("a", "test.note.v1"), ("b", "test.note.v1"), ("c", "test.plain.v1"), ("d", "test.note.v1")]
    raws = [
        nation.sign_as("110000", "310000", {"key": k, "text": "ok"}, type=t, encrypt=t == "test.note.v1")
        for k, t in sent
    ]
    assert [o.value for o in receive_batch(ex, raws)] == ["accepted"] * 4
    assert apply_due(ex) == 4
    assert effect_keys(database) == ["g:a", "g:b", "c", "g:d"]


def test_a_failing_group_is_applied_one_by_one_with_the_single_handler(
    nation: Nation, database: Database
) -> None:
    ex = nation.exchange("310000", database, settings=fast_settings(apply_group=10, apply_max_attempts=1))
    ex.group_handlers = {"test.note.v1": group_note_handler}
    raws = [
        nation.sign_as("110000", "310000", {"key": k, "text": t}) for k, t in (("a", "ok"), ("b", "explode"))
    ]
    receive_batch(ex, raws)
    assert apply_due(ex) == 1
    assert effect_keys(database) == ["a"]  # the single handler's effect: the group's was rolled back


def test_parsed_on_receipt_once_and_again_after_a_restart(
    nation: Nation, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ex = nation.exchange("310000", database)
    raws = [nation.sign_as("110000", "310000", {"key": k, "text": "ok"}) for k in ("a", "b", "c")]
    receive_batch(ex, raws[:2])
    assert len(ex.parsed) == 2
    parses: list[bytes] = []
    real_parse = domain.parse

    def counting_parse(raw: bytes) -> domain.Envelope:
        parses.append(raw)
        return real_parse(raw)

    monkeypatch.setattr(service, "parse", counting_parse)
    assert apply_due(ex) == 2
    assert parses == []  # both came from the receipt's parse
    assert len(ex.parsed) == 0
    # Another process (or this one after a restart) received the third: it is parsed from the inbox.
    receive(ex, raws[2])
    parses.clear()
    restarted = nation.exchange("310000", database)
    assert apply_due(restarted) == 1
    assert parses == [raws[2]]
    assert effect_keys(database) == ["a", "b", "c"]


class _Publisher:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def publish(self, recipient: str, msg_id: str, data: bytes) -> None:
        self.sent.append(data)


def test_due_work_names_the_steps_with_work(nation: Nation, database: Database, other_db: Database) -> None:
    a = nation.exchange("110000", database)
    b = nation.exchange("310000", other_db)
    flags = lambda ex: (due_work(ex).apply, due_work(ex).receipts, due_work(ex).relay)  # noqa: E731
    assert flags(a) == flags(b) == (False, False, False)
    with database.transaction() as s:
        enqueue(s, node=a.node, recipient="310000", type="test.plain.v1", body={"key": "k", "text": "t"})
    assert flags(a) == (False, False, True)
    pub = _Publisher()
    assert asyncio.run(relay_due(a, pub)) == 1
    assert flags(a) == (False, False, False)  # sent; due again only after its back-off
    receive(b, pub.sent[0])
    assert flags(b) == (True, True, False)
    assert apply_due(b) == 1
    assert flags(b) == (False, True, False)
    back = _Publisher()
    assert asyncio.run(send_receipts(b, back)) == 1
    assert flags(b) == (False, False, False)
    receive(a, back.sent[0])
    assert flags(a) == (False, False, False)
    # A verified refusal owes a (negative) receipt too.
    stale = nation.sign_as(
        "110000", "310000", {"key": "s", "text": "t"}, type="test.unknown.v1", encrypt=False
    )
    assert receive(b, stale).value == "rejected"
    assert flags(b) == (False, True, False)
