"""Each of the five migration matters end to end between Beijing (destination) and Shanghai (origin): accepted
with the local policy's decision, approved (the permit goes to Shanghai), moved out by Shanghai's clerk (in
transit, owned by Beijing's case: the locator says so), the certificate verified and attached, the move-in
registered into the chosen household and the move-out confirmed at the origin; the nation stays consistent."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    ELDER,
    GRAD,
    LONER,
    ORIGIN_CLERK,
    SH,
    SON,
    WIFE,
    MigNation,
    accept,
    assert_nation_consistent,
    notifications,
    status_at,
    task_state,
    wait_state,
    wait_task,
)

from tongban.cases import notify
from tongban.cases.domain import CloseReason
from tongban.cases.service import get_case, get_task
from tongban.exchange.locator import LOCATOR_CODE, id_digest, locator_key
from tongban.exchange.tables import LocatorEntryRow
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.papers.tables import PaperRow
from tongban.registry.tables import JournalEntry, Person


def _entry(nation: MigNation, id_number: str) -> tuple[str, str, str | None] | None:
    with nation.locator.db.session() as s:
        row = s.get(LocatorEntryRow, id_digest(locator_key(nation.data_dir), id_number))
        return None if row is None else (row.node, row.status, row.case_ref)


@pytest.mark.parametrize(
    ("matter", "who"),
    [("MIG-JOB", LONER), ("MIG-STU", SON), ("MIG-GRAD", GRAD), ("MIG-SPOUSE", WIFE), ("MIG-PARENT", ELDER)],
)
def test_a_migration_runs_end_to_end(nation: MigNation, matter: str, who: str) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, who, matter)
    view = mig.get_migration(bj, number=number)
    assert view.origin == SH and view.state == "accepted" and view.eligible is True
    mig.approve(bj, actor=CLERK_BJ, number=number)

    # Shanghai received the permit: a clerk's task with a deadline, linked to Beijing's case.
    assert wait_task(sh, number, "received")
    task = get_task(sh, ref=origin.task_ref_of(number))
    assert str(task.case) == f"{BJ}/{number}" and task.deadline_at is not None
    assert [t.case_number for t in origin.list_tasks(sh)] == [number]
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert status_at(sh, who) == "in_transit"
    with sh.db.session() as s:
        person = s.scalars(select(Person).where(Person.id_number == who)).one()
        last = s.scalars(
            select(JournalEntry).where(JournalEntry.person_id == person.id).order_by(JournalEntry.seq.desc())
        ).first()
        assert last is not None and (last.event, last.case_ref) == ("in_transit", number)
        papers = s.scalars(select(PaperRow).where(PaperRow.subject_ref == number)).all()
        assert [p.type for p in papers] == ["mig.certificate"]
    assert wait_until(lambda: _entry(nation, who) == (SH, "in_transit", number), 20)

    assert wait_state(bj, number, "certificate_received")
    view = mig.get_migration(bj, number=number)
    assert view.certificate_number is not None and view.certificate_valid_until is not None
    mig.move_in(bj, actor=CLERK_BJ, number=number)
    assert status_at(bj, who) == "active"
    assert get_case(bj, number=number).close_reason is CloseReason.COMPLETED
    assert wait_task(sh, number, "settled")
    assert status_at(sh, who) == "moved_out"
    assert wait_until(lambda: _entry(nation, who) == (BJ, "registered", None), 20)
    with bj.db.session() as s:
        papers = s.scalars(select(PaperRow).where(PaperRow.subject_ref == number)).all()
        assert [p.type for p in papers] == ["mig.permit"]
    texts = [notify.render(n) for n in notifications(bj, number)]
    assert any("准迁证" in t or "准予迁入" in t for t in texts), texts
    assert any("已在户" in t or "落户" in t for t in texts), texts
    assert task_state(sh, number) == "settled"
    assert_nation_consistent(nation, [who])
    assert nation.locator.code == LOCATOR_CODE


def test_the_origin_moves_out_automatically_where_allowed(auto_nation: MigNation) -> None:
    bj, sh = auto_nation.bj, auto_nation.sh
    number = accept(auto_nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_state(bj, number, "certificate_received")
    assert task_state(sh, number) == "moved_out"
    assert get_task(sh, ref=origin.task_ref_of(number)).outcome is not None
    mig.move_in(bj, actor=CLERK_BJ, number=number, household_number="D2", relation="head")
    assert wait_task(sh, number, "settled")
    assert_nation_consistent(auto_nation, [LONER])
