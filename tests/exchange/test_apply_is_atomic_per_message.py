"""A message's effects and its applied state commit together: a failing handler leaves no partial effect,
and its neighbours in the same commit group are applied."""

from __future__ import annotations

import pytest
from exchange_support import Effect, Nation, effect_keys, fast_settings
from sqlalchemy import select

from tongban.core.db import Database
from tongban.exchange.service import Incoming, apply_due, enqueue, receive
from tongban.exchange.tables import InboxRow


def half_then_fail(session, node, incoming: Incoming) -> None:  # type: ignore[no-untyped-def]
    session.add(Effect(key=incoming.message.key))  # type: ignore[attr-defined]
    session.flush()
    if incoming.message.text == "explode":  # type: ignore[attr-defined]
        raise RuntimeError("after writing")


def test_a_failing_handler_leaves_no_partial_effect(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database, settings=fast_settings(apply_max_attempts=1, apply_group=10))
    ex.handlers["test.note.v1"] = half_then_fail
    for key, text in (("a", "ok"), ("b", "explode"), ("c", "ok")):
        assert receive(ex, nation.sign_as("110000", "310000", {"key": key, "text": text})).value == "accepted"
    assert apply_due(ex) == 2
    assert effect_keys(database) == ["a", "c"]
    with database.session() as s:
        states = {eid: st for eid, st in s.execute(select(InboxRow.envelope_id, InboxRow.state))}
        errors = [e for e in s.scalars(select(InboxRow.error)) if e]
    assert sorted(states.values()) == ["applied", "applied", "parked"]
    assert errors == ["RuntimeError: after writing"]


def test_enqueue_to_a_node_outside_the_directory_is_refused(nation: Nation, database: Database) -> None:
    ex = nation.exchange("110000", database)
    with pytest.raises(LookupError), database.transaction() as s:
        enqueue(s, node=ex.node, recipient="990000", type="test.plain.v1", body={"key": "k", "text": "t"})
