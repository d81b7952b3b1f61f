"""The destination's batches (``accept_migrations``, ``approve_many``, ``move_in_many``): many cases in one
transaction, each its own saga; a refused case changes nothing and the others still commit; the origin's
automatic move-outs and the destination's move-ins of the batch end in a consistent nation."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.migration.mig_support import (
    CLERK_BJ,
    ELDER,
    LONER,
    STRANGER,
    MigNation,
    applicant,
    assert_nation_consistent,
    mig_state,
    wait_state,
)

from tongban.cases.tables import CaseRow
from tongban.core.errors import Conflict, NotFound
from tongban.migration import service as mig
from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow


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
