"""The destination's batches (``accept_migrations``, ``approve_many``, ``move_in_many``): many cases in one
transaction, each its own saga; a refused case changes nothing and the others still commit; the origin's
automatic move-outs and the destination's move-ins of the batch end in a consistent nation."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, func, select
from tests.migration.mig_support import (
    CLERK_BJ,
    ELDER,
    GRAD,
    HEAD,
    LONER,
    ORIGIN_CLERK,
    STRANGER,
    MigNation,
    accept,
    applicant,
    assert_nation_consistent,
    mig_state,
    status_at,
    wait_state,
    wait_task,
)

from tongban.cases.tables import CaseRow
from tongban.core import batching
from tongban.core.errors import Conflict, NotFound
from tongban.exchange import service as exchange_service
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.transport import EmbeddedTransport
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.migration import store as mig_store
from tongban.migration.domain import CERTIFICATE_PAPER, CERTIFICATE_TYPE, PERMIT_TYPE, SETTLED_TYPE
from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow
from tongban.papers.tables import PaperRow


def _request(id_number: str, household: str) -> mig.MigrationRequest:
    return mig.MigrationRequest(
        applicant=applicant(id_number),
        name="测试",
        matter="MIG-JOB",
        facts={},
        household_number=household,
        relation="head",
        origin_address="上海市徐汇区测试路",
        origin="310000",
    )


def test_a_batch_commits_every_case_but_the_refused_one(auto_nation: MigNation) -> None:
    bj = auto_nation.bj
    # The second application of LONER is refused (one open migration per person); the household Z9 does not
    # exist: that one is refused too. Neither leaves a trace; the other two are accepted in the same commit.
    out = mig.accept_migrations(
        bj,
        actor=CLERK_BJ,
        requests=[
            _request(LONER, "D2"),
            _request(LONER, "D2"),
            _request(ELDER, "D3"),
            _request(STRANGER, "Z9"),
        ],
    )
    first, again, elder, missing = out
    assert isinstance(first, str) and isinstance(elder, str)
    assert isinstance(again, Conflict) and isinstance(missing, NotFound)
    with bj.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MigrationCaseRow)) == 2
        assert s.scalar(select(func.count()).select_from(CaseRow)) == 2
        assert s.scalar(select(func.count()).select_from(MigrationOpenRow)) == 2

    # Approving a number that does not exist is refused on its own; the two permits go out.
    approved = mig.approve_many(bj, actor=CLERK_BJ, numbers=[first, "110000-20000101-999999", elder])
    assert approved[0] == first and approved[2] == elder and isinstance(approved[1], NotFound)
    assert wait_state(bj, first, "certificate_received") and wait_state(bj, elder, "certificate_received")

    assert mig.move_in_many(bj, actor=CLERK_BJ, numbers=[first, elder]) == [first, elder]
    assert mig_state(bj, first) == mig_state(bj, elder) == "settled"
    # Moving in again is refused per case, and changes nothing.
    again_in = mig.move_in_many(bj, actor=CLERK_BJ, numbers=[first])
    assert isinstance(again_in[0], Conflict)
    assert_nation_consistent(auto_nation, [LONER, ELDER])


def test_a_batch_reads_its_cases_once_and_certificates_apply_as_a_group(
    nation: MigNation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``approve_many`` reads the batch's case rows in one statement, not one per case; certificates that
    arrive together are applied by the group handler, with the same outcome as one at a time."""
    bj, sh = nation.bj, nation.sh
    people = [(LONER, "D2"), (ELDER, "D3"), (GRAD, "D1")]
    numbers = [accept(nation, bj, p, household=h) for p, h in people]

    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM migration_case" in statement:
            reads.append(statement)

    event.listen(bj.db.engine, "before_cursor_execute", seen)
    try:
        assert mig.approve_many(bj, actor=CLERK_BJ, numbers=numbers) == numbers
    finally:
        event.remove(bj.db.engine, "before_cursor_execute", seen)
    assert len(reads) == 1
    assert all(wait_task(sh, n, "received") for n in numbers)

    groups: list[int] = []

    def recording(s: Any, node: Any, incomings: list[Any]) -> None:
        groups.append(len(incomings))
        mig.apply_certificates(s, node, incomings)

    monkeypatch.setitem(exchange_service._group_handlers, CERTIFICATE_TYPE, recording)
    # The origin moves them all out while the exchange is stopped: their certificates then travel together.
    nation.runner.stop()
    for n in numbers:
        origin.move_out(sh, actor=ORIGIN_CLERK, case_number=n)
    nation.runner = ExchangeRunner(nation.runner.nodes, EmbeddedTransport)
    nation.runner.start()
    assert all(wait_state(bj, n, "certificate_received") for n in numbers)
    assert max(groups, default=0) >= 2, groups
    with bj.db.session() as s:
        rows = s.scalars(select(MigrationCaseRow).where(MigrationCaseRow.case_number.in_(numbers))).all()
        assert all(r.certificate_number and r.certificate_valid_until for r in rows)
    assert mig.move_in_many(bj, actor=CLERK_BJ, numbers=numbers) == numbers
    assert_nation_consistent(nation, [p for p, _ in people])


def test_a_batch_numbers_its_permits_without_gaps_and_registers_its_move_ins_together(
    auto_nation: MigNation,
) -> None:
    """The permits of a batch take consecutive numbers in one advance of the counter, the number reserved
    for a refused case is not lost; the move-ins of a batch are one insert per registry table."""
    bj = auto_nation.bj
    people = [(LONER, "D2"), (ELDER, "D3"), (GRAD, "D1")]
    numbers = [accept(auto_nation, bj, p, household=h) for p, h in people]
    approved = mig.approve_many(
        bj, actor=CLERK_BJ, numbers=[numbers[0], "110000-20000101-999999", *numbers[1:]]
    )
    assert isinstance(approved[1], NotFound)
    with bj.db.session() as s:
        permits = sorted(str(p) for p in s.scalars(select(MigrationCaseRow.permit_number)))
    assert [p.rsplit("-", 1)[1] for p in permits] == ["000001", "000002", "000003"]
    assert all(wait_state(bj, n, "certificate_received") for n in numbers)

    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO registry_journal"):
            inserts.append(statement)

    event.listen(bj.db.engine, "before_cursor_execute", seen)
    try:
        assert mig.move_in_many(bj, actor=CLERK_BJ, numbers=numbers) == numbers
    finally:
        event.remove(bj.db.engine, "before_cursor_execute", seen)
    assert len(inserts) == 1
    assert_nation_consistent(auto_nation, [p for p, _ in people])


def _permits_together(
    nation: MigNation, cases: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], list[int]]:
    """Approve the cases while the exchange is stopped, so that their permits reach the origin together; the
    sizes of the groups its group handler was given."""
    bj = nation.bj
    numbers = [
        accept(nation, bj, person, household=household, origin="310000") for person, household in cases
    ]
    groups: list[int] = []

    def recording(s: Any, node: Any, incomings: list[Any]) -> None:
        groups.append(len(incomings))
        origin.apply_permits(s, node, incomings)

    monkeypatch.setitem(exchange_service._group_handlers, PERMIT_TYPE, recording)
    nation.runner.stop()
    assert mig.approve_many(bj, actor=CLERK_BJ, numbers=numbers) == numbers
    nation.runner = ExchangeRunner(nation.runner.nodes, EmbeddedTransport)
    nation.runner.start()
    return numbers, groups


def test_permits_arriving_together_move_out_together(
    auto_nation: MigNation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The origin's group handler moves the people of a group of permits out as one batch, with the outcome
    of one permit at a time: each moved out with a certificate, a person not registered here refused."""
    bj, sh = auto_nation.bj, auto_nation.sh
    numbers, groups = _permits_together(
        auto_nation, [(LONER, "D2"), (ELDER, "D3"), (STRANGER, "D1"), (GRAD, "D1")], monkeypatch
    )
    loner, elder, stranger, grad = numbers
    assert all(wait_state(bj, n, "certificate_received") for n in (loner, elder, grad))
    assert wait_state(bj, stranger, "closed", "refused")
    assert max(groups, default=0) >= 2, groups
    with sh.db.session() as s:
        papers = [
            str(p) for p in s.scalars(select(PaperRow.number).where(PaperRow.type == CERTIFICATE_PAPER))
        ]
    assert sorted(p.rsplit("-", 1)[1] for p in papers) == ["000001", "000002", "000003"]
    assert [status_at(sh, p) for p in (LONER, ELDER, GRAD)] == ["in_transit"] * 3

    # Their settlements travel together too, and are confirmed as a group.
    settled: list[int] = []

    def settling(s: Any, node: Any, incomings: list[Any]) -> None:
        settled.append(len(incomings))
        origin.apply_settlements(s, node, incomings)

    monkeypatch.setitem(exchange_service._group_handlers, SETTLED_TYPE, settling)
    auto_nation.runner.stop()
    assert mig.move_in_many(bj, actor=CLERK_BJ, numbers=[loner, elder, grad]) == [loner, elder, grad]
    auto_nation.runner = ExchangeRunner(auto_nation.runner.nodes, EmbeddedTransport)
    auto_nation.runner.start()
    assert all(wait_task(sh, n, "settled") for n in (loner, elder, grad))
    assert max(settled, default=0) >= 2, settled
    assert [status_at(sh, p) for p in (LONER, ELDER, GRAD)] == ["moved_out"] * 3
    assert_nation_consistent(auto_nation, [LONER, ELDER, GRAD, STRANGER])


def test_a_group_the_batch_cannot_take_is_applied_one_permit_at_a_time(
    auto_nation: MigNation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A head leaving others behind cannot move out without a clerk naming the new head: the group fails as a
    batch and each permit is applied on its own, the head's task waiting for a clerk, the others moved out."""
    bj, sh = auto_nation.bj, auto_nation.sh
    numbers, groups = _permits_together(
        auto_nation, [(LONER, "D2"), (HEAD, "D3"), (ELDER, "D1")], monkeypatch
    )
    loner, head, elder = numbers
    assert all(wait_state(bj, n, "certificate_received") for n in (loner, elder))
    assert wait_task(sh, head, "received")
    assert mig_state(bj, head) == "permit_sent"
    assert max(groups, default=0) >= 2, groups
    assert status_at(sh, HEAD) == "active"
    assert mig.move_in_many(bj, actor=CLERK_BJ, numbers=[loner, elder]) == [loner, elder]
    assert_nation_consistent(auto_nation, [LONER, ELDER])


def test_a_batch_of_applications_reads_and_marks_its_persons_once(auto_nation: MigNation) -> None:
    """``accept_migrations`` reads the applicants' open migrations in one statement and marks them in one;
    the case numbers of the batch are consecutive."""
    bj = auto_nation.bj
    statements: list[str] = []
    here = threading.get_ident()

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.get_ident() == here:  # not the exchange's
            statements.append(" ".join(statement.split())[:80])

    event.listen(bj.db.engine, "before_cursor_execute", seen)
    try:
        numbers = mig.accept_migrations(
            bj, actor=CLERK_BJ, requests=[_request(LONER, "D2"), _request(ELDER, "D3"), _request(GRAD, "D1")]
        )
    finally:
        event.remove(bj.db.engine, "before_cursor_execute", seen)
    assert all(isinstance(n, str) for n in numbers)
    assert [str(n).rsplit("-", 1)[1] for n in numbers] == ["000001", "000002", "000003"]
    assert sum(1 for st in statements if st.startswith("INSERT INTO migration_open")) == 1, statements
    assert sum(1 for st in statements if "FROM migration_open" in st) == 1, statements
    assert sum(1 for st in statements if st.startswith("INSERT INTO cases_number_counter")) == 1, statements


def test_a_mark_taken_while_a_batch_runs_fails_the_pass(auto_nation: MigNation) -> None:
    """A person's open mark written by another writer after the pass read the marks: the pass's insert of
    its marks finds it and fails the pass (its caller then goes one case at a time)."""
    bj = auto_nation.bj
    now = bj.clock.now()
    with bj.db.transaction() as s:
        with pytest.raises(Conflict), s.begin_nested(), batching.batch_pass(s, 2):
            mig_store.read_open_marks(s, ["ref-a", "ref-b"])
            assert (
                mig_store.try_open(s, person_ref="ref-a", case_number="C-1", role="destination", now=now)
                is None
            )
            assert (
                mig_store.try_open(s, person_ref="ref-a", case_number="C-2", role="destination", now=now)
                == "C-1"
            )
            s.add(MigrationOpenRow(person_ref="ref-b", case_number="C-9", role="destination", since=now))
            s.flush()  # another writer's mark, after the read
            assert (
                mig_store.try_open(s, person_ref="ref-b", case_number="C-3", role="destination", now=now)
                is None
            )
        assert s.scalar(select(func.count()).select_from(MigrationOpenRow)) == 0
