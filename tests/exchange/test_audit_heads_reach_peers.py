"""A node's sealed audit chain head reaches its peers over the exchange; a later complete rewrite of the
node's sealed rows (hashes and seals recomputed, so the chain checks itself as intact) is caught against the
head a peer holds, by ``tongban audit peers``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from exchange_support import Nation, wait_until
from sqlalchemy import select
from typer.testing import CliRunner

import tongban.exchange.service as service
from tongban.audit.jobs import current_head, seal_pending
from tongban.audit.peers import (
    HEAD_TYPE,
    HeadPublisher,
    compare_with_heads,
    heads_held,
    publish_head,
    register_exchange_type,
)
from tongban.audit.service import record_audit
from tongban.audit.tables import PeerHead
from tongban.audit.verify import verify_chain
from tongban.cli import app
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.exchange.domain import types
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import EmbeddedTransport


def _fill(db: Database, n: int) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    with db.transaction() as s:
        for i in range(n):
            record_audit(
                s,
                actor="clerk-1",
                action="registry.person.read",
                object_type="person",
                object_id=str(i),
                change=None,
                at=at,
            )
    seal_pending(db, clock=SystemClock())


def _held(db: Database) -> list[tuple[str, int, str]]:
    with db.session() as s:
        return [(h.peer, h.pos, h.head_hash) for h in s.scalars(select(PeerHead))]


def _rewrite(db: Database) -> None:
    """An intruder with schema rights rewrites history: guards off, a row edited, the whole chain resealed."""
    with db.engine.begin() as conn:
        if db.backend == "postgresql":
            conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard"))
            conn.execute(sa.text("ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_guard"))
        else:
            for t in (
                "audit_log_no_delete",
                "audit_log_seal_once",
                "audit_seals_no_change",
                "audit_seals_no_delete",
            ):
                conn.execute(sa.text(f"DROP TRIGGER {t}"))
        conn.execute(sa.text("DELETE FROM audit_seals"))
        conn.execute(
            sa.text(
                "UPDATE audit_log SET chain_pos = NULL, prev_hash = NULL, row_hash = NULL, sealed_at = NULL"
            )
        )
        conn.execute(sa.text("UPDATE audit_log SET actor = 'clerk-2' WHERE object_id = '1'"))
    seal_pending(db, clock=SystemClock())


def _peers_cli(node_db: Database, peer_db: Database) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["audit", "peers", "--db", node_db.url, "--node", "110000", "--peer-db", peer_db.url]
    )
    return result.exit_code, result.output


def test_a_rewrite_is_caught_against_the_head_a_peer_holds(
    nation: Nation, database: Database, other_db: Database
) -> None:
    register_exchange_type()
    bj = nation.exchange("110000", database, registry=types, handlers=service._handlers)
    sh = nation.exchange("310000", other_db, registry=types, handlers=service._handlers)
    _fill(database, 5)
    head = publish_head(bj.node)
    assert head is not None and head.pos == 5
    assert publish_head(bj.node, last=head) is None  # the same head is not sent again
    with database.session() as s:
        sent = sorted(s.scalars(select(OutboxRow.recipient).where(OutboxRow.type == HEAD_TYPE)))
    assert sent == ["310000", "440000"]  # every peer of the directory
    # The publisher thread's round: nothing new to send after the head above.
    publisher = HeadPublisher(bj.node, interval_s=3600)
    publisher.tick()
    _fill(database, 1)
    publisher.tick()
    publisher.tick()
    with database.session() as s:
        assert len(list(s.scalars(select(OutboxRow.id).where(OutboxRow.type == HEAD_TYPE)))) == 6
    first, head = head, current_head(database, node="110000")
    assert head.pos == 6
    runner = ExchangeRunner([bj, sh], EmbeddedTransport)
    runner.start()
    try:
        assert wait_until(lambda: len(_held(other_db)) == 2, 15)
    finally:
        runner.stop()
    # The head of position 5 arrived twice (before and from the publisher's first round), kept once.
    assert sorted(_held(other_db)) == [("110000", 5, first.hash), ("110000", 6, head.hash)]
    assert current_head(database, node="110000").hash == head.hash
    code, out = _peers_cli(database, other_db)
    assert code == 0, out
    assert "matches the 2 head(s)" in out

    _rewrite(database)
    with database.session() as s:
        assert verify_chain(s).ok  # consistent in itself: the node alone cannot tell
        assert current_head(database, node="110000").hash != head.hash
    with other_db.session() as held, database.session() as s:
        faults = compare_with_heads(s, heads_held(held, holder="310000", about="110000"))
    assert [(f.pos, f.kind) for f in faults] == [(5, "peer-head"), (6, "peer-head")]
    code, out = _peers_cli(database, other_db)
    assert code == 1, out
    assert "BROKEN" in out and "position 5" in out and "rewritten" in out


def test_a_node_cannot_state_another_nodes_head(
    nation: Nation, database: Database, other_db: Database
) -> None:
    register_exchange_type()
    bj = nation.exchange("110000", database, registry=types, handlers=service._handlers)
    sh = nation.exchange("310000", other_db, registry=types, handlers=service._handlers)
    forged = nation.sign_as(
        "440000",
        "310000",
        {"node": "110000", "pos": 3, "hash": "ab" * 32, "sealed_at": None},
        type=HEAD_TYPE,
        encrypt=False,
    )
    assert service.receive(sh, forged) is not None
    service.apply_due(sh)
    assert _held(other_db) == []  # refused by the handler: 440000 may only state its own head
    with other_db.session() as s:
        states = list(s.execute(sa.text("SELECT state FROM exchange_inbox")).scalars())
    assert states and "applied" not in states
    assert bj.node.code == "110000"
