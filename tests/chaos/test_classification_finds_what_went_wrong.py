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

from tongban.chaos.faults import schedule
from tongban.chaos.workload import CertWorkload, Operation, RunContext, node_codes
from tongban.core.node import NodeContext
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import exchange_of
from tongban.exchange.transport import EmbeddedTransport
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.papers.tables import PaperRow
from tongban.registry.tables import Person


def _workload(tmp_path: Path) -> CertWorkload:
    data_dir = tmp_path / "nation"
    now = datetime.now(UTC) - timedelta(minutes=5)
    directory_admin.init(data_dir, now=now)
    codes = node_codes(2)
    for code in codes:
        directory_admin.add_node(data_dir, code=code, name=code, now=now)
    urls = {code: f"sqlite:///{tmp_path / f'{code}.sqlite3'}" for code in codes}
    wl = CertWorkload()
    wl.prepare(RunContext(7, data_dir, urls, "classifier-test-secret", 2), planned=8)
    for node in wl.nodes.values():
        node.services[KEYS_SERVICE] = DirectorySignerSource(exchange_of(node).directory, data_dir)
    return wl


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
    wl = _workload(tmp_path)
    rng = random.Random(1)
    try:
        runner = ExchangeRunner([exchange_of(n) for n in wl.nodes.values()], EmbeddedTransport)
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
