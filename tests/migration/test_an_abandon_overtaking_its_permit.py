"""Reordering: the applicant withdraws right after the approval and the abandon reaches the origin before the
permit does. The origin records the migration as closed; the late permit then opens no task and moves nobody
out, and nothing is answered for it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    CLERK_BJ,
    LONER,
    MigNation,
    accept,
    assert_nation_consistent,
    status_at,
    task_state,
)

from tongban.cases.tables import TaskRow
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.migration import service as mig
from tongban.migration.tables import MigrationTaskRow


def test_a_permit_arriving_after_its_abandon_changes_nothing(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    later = bj.clock.now() + timedelta(days=1)
    nation.runner.stop()  # nothing leaves until the permit is held back
    mig.approve(bj, actor=CLERK_BJ, number=number)
    # Hold the permit back (as a slow or lost first delivery would) until the abandon has been delivered.
    with bj.db.transaction() as s:
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.case_ref == number, OutboxRow.type == "mig.permit.v1")
            .values(next_attempt_at=later)
        )
    mig.withdraw(bj, actor=CLERK_BJ, number=number)
    nation.runner = ExchangeRunner([exchange_of(n) for n in nation.nodes.values()], EmbeddedTransport)
    nation.runner.start()
    assert wait_until(lambda: task_state(sh, number) == "cancelled", 20)
    with bj.db.transaction() as s:
        s.execute(
            update(OutboxRow)
            .where(OutboxRow.case_ref == number, OutboxRow.type == "mig.permit.v1")
            .values(next_attempt_at=bj.clock.now())
        )

    def permit_arrived() -> bool:
        with sh.db.session() as s:
            row = s.scalars(select(MigrationTaskRow).where(MigrationTaskRow.case_number == number)).one()
            return row.permit_json is not None

    assert wait_until(permit_arrived, 20)
    assert task_state(sh, number) == "cancelled"
    assert status_at(sh, LONER) == "active"
    with sh.db.session() as s:
        assert s.scalars(select(TaskRow).where(TaskRow.case_number == number)).first() is None
        assert s.scalars(select(OutboxRow).where(OutboxRow.case_ref == number)).first() is None
    assert_nation_consistent(nation, [LONER])
