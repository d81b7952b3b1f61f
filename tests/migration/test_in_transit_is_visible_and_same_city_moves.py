"""In transit is visible anywhere: an identity check through the locator answers "temporarily invalid: moved
out, not yet moved in" with the owning case; and the same-city one-stop moves a person between two
households of one city in one transaction (case, policy decision, move), refused while a migration is open."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    CLERK_GD,
    LOCAL,
    LONER,
    ORIGIN_CLERK,
    SH,
    MigNation,
    accept,
    applicant,
    assert_nation_consistent,
    notifications,
    status_at,
    wait_state,
    wait_task,
)

from tongban.audit.tables import AuditRow
from tongban.cases import notify
from tongban.cases.domain import CloseReason
from tongban.cases.service import get_case
from tongban.core.errors import Conflict
from tongban.migration import identity, origin, samecity
from tongban.migration import service as mig
from tongban.registry.queries import get_person
from tongban.registry.tables import JournalEntry


def _check(nation: MigNation, id_number: str) -> identity.IdentityStatus | None:
    return identity.check(nation.gd, id_number=id_number, timeout_s=10)


def test_an_identity_check_anywhere_sees_the_person_in_transit_with_the_owning_case(
    nation: MigNation,
) -> None:
    bj, sh = nation.bj, nation.sh
    before = _check(nation, LONER)
    assert before is not None and before.valid and before.node == SH
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)

    def in_transit() -> bool:
        found = _check(nation, LONER)
        return found is not None and found.status == "in_transit"

    assert wait_until(in_transit, 20)
    during = _check(nation, LONER)
    assert during is not None and not during.valid and during.case_ref == number
    assert during.text("zh_CN") == f"暂时无效：已迁出，尚未迁入（案件 {number}）"
    assert during.text("en") == f"temporarily invalid: moved out, not yet moved in (case {number})"
    # Another destination asking the locator before it accepts refuses at once, naming the owning case.
    with pytest.raises(Conflict) as refused:
        accept(nation, nation.gd, LONER)
    assert number in str(refused.value)
    assert wait_state(bj, number, "certificate_received")
    mig.move_in(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "settled")

    def settled() -> bool:
        found = _check(nation, LONER)
        return found is not None and (found.status, found.node) == ("registered", BJ)

    assert wait_until(settled, 20)
    assert_nation_consistent(nation, [LONER])
    # A later migration is routed by the locator to where the person lives now, not by the ID number.
    onward = mig.get_migration(nation.gd, number=accept(nation, nation.gd, LONER))
    assert (onward.origin, onward.routed_by) == (BJ, "locator")


def test_a_same_city_move_is_one_transaction(nation: MigNation) -> None:
    bj = nation.bj
    view = samecity.move_in_city(
        bj,
        actor=CLERK_BJ,
        applicant=applicant(LOCAL),
        matter="MIG-JOB",
        facts={},
        household_number="D3",
        relation="head",
    )
    assert view.state == "settled" and view.routed_by == "same-city"
    assert get_case(bj, number=view.number).close_reason is CloseReason.COMPLETED
    person = get_person(bj, actor="test", id_number=LOCAL)
    assert (person.status, person.household_number, person.division_code) == ("active", "D3", "110108")
    with bj.db.session() as s:
        refs = s.scalars(
            select(JournalEntry.case_ref).where(JournalEntry.person_id == person.person_id)
        ).all()
        assert refs.count(view.number) == 2  # moved out of D1 and into D3, on the case
    assert any("D3" in notify.render(n) for n in notifications(bj, view.number))
    assert_nation_consistent(nation, [LOCAL])


def test_a_same_city_move_the_policy_refuses_moves_nobody(nation: MigNation) -> None:
    bj = nation.bj
    view = samecity.move_in_city(
        bj,
        actor=CLERK_BJ,
        applicant=applicant(LOCAL, "en"),
        matter="MIG-SPOUSE",
        facts={"marriage_duration": "1y"},
        household_number="D3",
        relation="head",
    )
    assert (view.state, view.reason, view.eligible) == ("refused", "not-eligible", False)
    assert view.explanation is not None
    assert get_person(bj, actor="test", id_number=LOCAL).household_number == "D1"
    assert any("not met" in notify.render(n) for n in notifications(bj, view.number))


def test_a_same_city_move_waits_for_an_open_migration_of_the_person(nation: MigNation) -> None:
    bj, gd = nation.bj, nation.gd
    number = accept(nation, gd, LOCAL)
    mig.approve(gd, actor=CLERK_GD, number=number)
    assert wait_task(bj, number, "received")
    with pytest.raises(Conflict):
        samecity.move_in_city(
            bj,
            actor=CLERK_BJ,
            applicant=applicant(LOCAL),
            matter="MIG-JOB",
            facts={},
            household_number="D3",
            relation="head",
        )
    assert status_at(bj, LOCAL) == "active"


def test_an_identity_check_for_a_user_is_audited_without_the_id_number(nation: MigNation) -> None:
    found = identity.check(nation.gd, id_number=LONER, timeout_s=10, actor="user:gd-clerk")
    assert found is not None and (found.status, found.node) == ("registered", "310000")
    with nation.gd.db.session() as s:
        rows = s.scalars(select(AuditRow).where(AuditRow.action == "migration.identity.check")).all()
        assert [(r.actor, r.object_type) for r in rows] == [("user:gd-clerk", "locator-question")]
        assert LONER not in rows[0].object_id
