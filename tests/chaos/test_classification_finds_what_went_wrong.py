"""The chaos classifier tells ok operations from lost, duplicated and unexpected ones, reading the nodes'
databases (here two SQLite nodes on the embedded exchange, so it runs in seconds): a second paper for one
request, a case nobody asked for and a request that never finished are each found."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select
from tests.exchange.exchange_support import wait_until

from tongban.cert.tables import CertRequestRow
from tongban.chaos.faults import schedule
from tongban.chaos.run import seed_locator_from
from tongban.chaos.workload import CertWorkload, MigrationWorkload, Operation, RunContext, node_codes
from tongban.core import migrate
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE, LOCATOR_NAME
from tongban.exchange.runtime import node_exchange
from tongban.exchange.service import exchange_of
from tongban.exchange.transport import EmbeddedTransport
from tongban.migration.common import SETTINGS_SERVICE, MigrationSettings
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.papers.tables import PaperRow
from tongban.registry.tables import Person, PersonState


def _workload(tmp_path: Path) -> tuple[CertWorkload, NodeContext]:
    """Two provinces and the national locator (seeded with their registrations, as the chaos run does)."""
    data_dir = tmp_path / "nation"
    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    codes = node_codes(2)
    for code in codes:
        directory_admin.add_node(data_dir, code=code, name=code, now=now)
    directory_admin.add_node(data_dir, code=LOCATOR_CODE, name=LOCATOR_NAME, now=now)
    urls = {code: f"sqlite:///{tmp_path / f'{code}.sqlite3'}" for code in codes}
    wl = CertWorkload()
    wl.prepare(RunContext(7, data_dir, urls, "classifier-test-secret", 2), planned=8)
    for node in wl.nodes.values():
        node.services[KEYS_SERVICE] = DirectorySignerSource(exchange_of(node).directory, data_dir)
    locator_url = f"sqlite:///{tmp_path / 'locator.sqlite3'}"
    locator = open_node(NodeEntry(LOCATOR_CODE, LOCATOR_NAME, locator_url), Settings(data_dir=data_dir))
    migrate.upgrade(locator.db)
    assert seed_locator_from(urls, locator_url, data_dir) == 2 * (8 // 2 + 5) * 2  # heads and spouses
    node_exchange(locator, data_dir)
    return wl, locator


def _ops(wl: CertWorkload, rng: random.Random, first: int, n: int) -> list[Operation]:
    ops = []
    for i in range(first, first + n):
        op = wl.next_operation(i, rng)
        assert op is not None
        wl.submit(op)
        assert op.ref is not None and op.error is None
        ops.append(op)
    return ops


def test_ok_lost_duplicated_and_unexpected_are_told_apart(tmp_path: Path) -> None:
    wl, locator = _workload(tmp_path)
    rng = random.Random(1)
    try:
        exchanges = [exchange_of(n) for n in [*wl.nodes.values(), locator]]
        runner = ExchangeRunner(exchanges, EmbeddedTransport)
        runner.start()
        try:
            ops = _ops(wl, rng, 0, 4)
            stray = _ops(wl, rng, 4, 1)[0]  # submitted, but not among the run's operations
            assert wait_until(lambda: wl.settled(ops), 30)
        finally:
            runner.stop()
        verdicts, unexpected = wl.classify(ops, [])
        assert [v.outcome for v in verdicts] == ["ok"] * 4
        assert any(stray.ref in line for line in unexpected) and len(unexpected) == 3  # case, decision, paper

        # A request the locator's round trip sent elsewhere than to the registering node: unexpected.
        with wl.nodes[ops[1].node].db.transaction() as s:
            req = s.scalars(select(CertRequestRow).where(CertRequestRow.case_number == ops[1].ref)).one()
            req.recipient = ops[1].node
        by_op = {v.op: v for v in wl.classify(ops, [])[0]}
        assert by_op[ops[1].id].outcome == "unexpected" and "routed to" in by_op[ops[1].id].detail
        with wl.nodes[ops[1].node].db.transaction() as s:
            req = s.scalars(select(CertRequestRow).where(CertRequestRow.case_number == ops[1].ref)).one()
            req.recipient = ops[1].target

        # A request accepted while no exchange runs never finishes: lost.
        late = _ops(wl, rng, 5, 1)
        # A second paper for the person of the first operation: duplicated.
        target = wl.nodes[ops[0].target]
        with target.db.transaction() as s:
            person = person_id(target, ops[0].subject)
            paper = s.scalars(select(PaperRow).where(PaperRow.subject_ref == person)).one()
            copy = {c.name: getattr(paper, c.name) for c in PaperRow.__table__.columns if c.name != "id"}
            copy["number"] += "-2"
            s.add(PaperRow(**copy))
        verdicts, _ = wl.classify([*ops, *late], [])
        by_op = {v.op: v for v in verdicts}
        assert by_op[ops[0].id].outcome == "duplicated" and "papers x2" in by_op[ops[0].id].detail
        assert by_op[late[0].id].outcome == "lost"
        assert [by_op[o.id].outcome for o in ops[1:]] == ["ok"] * 3
    finally:
        wl.close()
        locator.db.dispose()


def person_id(node: NodeContext, id_number: str) -> str:
    with node.db.session() as s:
        return str(s.scalar(select(Person.id).where(Person.id_number == id_number)))


def test_the_fault_schedule_is_a_function_of_the_seed() -> None:
    nodes = node_codes(3)
    a = schedule(5, 120, nodes, past_timeouts_s=4)
    assert a == schedule(5, 120, nodes, past_timeouts_s=4)
    assert a != schedule(6, 120, nodes, past_timeouts_s=4)
    assert {f.kind for f in a} == {"node-kill", "broker-kill", "node-pause"}
    assert all(f.hold > 4 for f in a if f.kind == "node-pause")  # past the timeouts
    # One fault at a time: the broker keeps a quorum of two.
    assert all(x.at + x.hold < y.at for x, y in pairwise(a))
    # With the locator, node faults hit its process too: it is paused and killed first, then as any province.
    b = schedule(5, 600, nodes, past_timeouts_s=4, locator="000000")
    assert [(f.kind, f.target == "000000") for f in b[:4]] == [
        ("node-pause", True),
        ("broker-kill", False),
        ("node-kill", True),
        ("node-kill", False),
    ]
    assert {f.target for f in b if f.kind != "broker-kill"} == {*nodes, "000000"}
    assert {f.kind for f in b if f.target == "000000"} == {"node-kill", "node-pause"}


def test_migrations_are_classified_and_a_person_active_twice_is_duplicated(tmp_path: Path) -> None:
    """Three SQLite nodes on the embedded exchange, two origins moving out automatically and one by its
    clerk: moves, withdrawals, abandons, competing destinations and reissues all end as asked (one winner per competition); a person then made
    active at a second node is found duplicated."""
    data_dir = tmp_path / "nation"
    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    codes = node_codes(3)
    for code in codes:
        directory_admin.add_node(data_dir, code=code, name=code, now=now)
    urls = {code: f"sqlite:///{tmp_path / f'{code}.sqlite3'}" for code in codes}
    wl = MigrationWorkload()
    manual = codes[-1]  # its origin clerk moves out by hand
    wl.prepare(RunContext(9, data_dir, urls, "classifier-test-secret", 2, frozenset({manual})), planned=60)
    for code, node in wl.nodes.items():
        node.services[KEYS_SERVICE] = DirectorySignerSource(exchange_of(node).directory, data_dir)
        node.services[SETTINGS_SERVICE] = MigrationSettings(automatic_move_out=code != manual)
    rng = random.Random(3)
    ops: list[Operation] = []
    try:
        runner = ExchangeRunner([exchange_of(n) for n in wl.nodes.values()], EmbeddedTransport)
        runner.start()
        try:
            while len({o.kind for o in ops}) < 5 or len(ops) < 12 or manual not in {o.target for o in ops}:
                op = wl.next_operation(len(ops), rng)
                assert op is not None
                op.id = f"9-{len(ops)}"
                wl.submit(op)
                assert op.ref is not None and op.error is None, op.error
                ops.append(op)
            assert wait_until(lambda: wl.settled(ops), 60)
        finally:
            runner.stop()
        verdicts, unexpected = wl.classify(ops, [])
        assert [v.outcome for v in verdicts] == ["ok"] * len(ops), verdicts
        assert unexpected == []
        assert wl.moved_out_by_hand >= 1 and len(wl.reissue_asked) >= 1

        moved = next(o for o in ops if o.kind == "mig.move")
        with wl.nodes[moved.target].db.transaction() as s:
            person = s.scalars(select(Person).where(Person.id_number == moved.subject)).one()
            state = s.get(PersonState, person.id)
            assert state is not None
            state.status = "active"
        by_op = {v.op: v for v in wl.classify(ops, [])[0]}
        assert by_op[moved.id].outcome == "duplicated" and "active at" in by_op[moved.id].detail

        # A reissue whose first certificate was left in force is not what was asked.
        again = next(o for o in ops if o.kind == "mig.reissue")
        with wl.nodes[again.target].db.transaction() as s:
            first = s.scalars(
                select(PaperRow).where(PaperRow.subject_ref == again.ref, PaperRow.reissue_of.is_(None))
            ).one()
            first.revoked_at = None
        by_op = {v.op: v for v in wl.classify(ops, [])[0]}
        assert by_op[again.id].outcome == "unexpected" and "reissue" in by_op[again.id].detail
    finally:
        wl.close()
