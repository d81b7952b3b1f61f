"""Every exit of the saga: the origin refuses (the destination closes with the reason, the applicant is told
in their language); the applicant withdraws before the permit (a cancel: nothing leaves) or after it (a
compensation: the signed abandon makes the origin cancel its task, or restore the person it moved out); the
certificate nears its end (a reissue, or an abandon once it expired); a second migration of the same person
is refused while one is open, wherever it starts (two destinations competing: the origin decides, one wins)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    CLERK_GD,
    GD,
    LONER,
    ORIGIN_CLERK,
    SH,
    STRANGER,
    WIFE,
    MigNation,
    accept,
    assert_nation_consistent,
    drained,
    notifications,
    status_at,
    task_state,
    wait_state,
    wait_task,
)

from tongban.cases import notify
from tongban.cases.domain import CloseReason
from tongban.cases.service import get_case, get_task
from tongban.core.clock import FixedClock, SystemClock
from tongban.core.errors import Conflict, InvalidInput
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.papers.tables import PaperRow
from tongban.registry.queries import get_person


def _texts(nation: MigNation, number: str) -> list[str]:
    return [notify.render(n) for n in notifications(nation.bj, number)]


@pytest.mark.parametrize(("locale", "words"), [("zh_CN", "迁出地不予办理迁出"), ("en", "the origin refused")])
def test_the_origin_refuses_and_the_destination_closes_with_the_reason(
    nation: MigNation, locale: str, words: str
) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER, locale=locale)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.refuse_move_out(sh, actor=ORIGIN_CLERK, case_number=number, note="材料不实")
    assert wait_state(bj, number, "refused")
    case = get_case(bj, number=number)
    assert case.close_reason is CloseReason.REFUSED and case.events[-1].reason == "origin-refused: 材料不实"
    assert any(words in t for t in _texts(nation, number)), _texts(nation, number)
    assert get_task(sh, ref=origin.task_ref_of(number)).outcome is not None
    assert status_at(sh, LONER) == "active"
    # The person may apply again: nothing of the refused migration stays open on either side.
    again = accept(nation, bj, LONER)
    assert mig.get_migration(bj, number=again).state == "accepted"
    assert_nation_consistent(nation, [LONER])


def test_a_person_not_registered_at_the_origin_is_refused_there(nation: MigNation) -> None:
    # Unknown to the locator; the household booklet the applicant shows names Shanghai.
    number = accept(nation, nation.bj, STRANGER, locale="en", origin=SH)
    mig.approve(nation.bj, actor=CLERK_BJ, number=number)
    assert wait_state(nation.bj, number, "refused")
    assert mig.get_migration(nation.bj, number=number, locale="en").reason_text == (
        "the person is not registered at the origin"
    )
    assert any("not registered at the origin" in t for t in _texts(nation, number))
    assert_nation_consistent(nation, [STRANGER])


def test_withdrawing_before_the_permit_is_a_cancel(nation: MigNation) -> None:
    bj = nation.bj
    number = accept(nation, bj, LONER)
    mig.withdraw(bj, actor=CLERK_BJ, number=number, note="不迁了")
    assert get_case(bj, number=number).close_reason is CloseReason.WITHDRAWN
    with bj.db.session() as s:
        assert s.scalars(select(OutboxRow).where(OutboxRow.case_ref == number)).first() is None
    assert task_state(nation.sh, number) is None
    with pytest.raises(Conflict):
        mig.approve(bj, actor=CLERK_BJ, number=number)
    assert_nation_consistent(nation, [LONER])


def test_withdrawing_after_the_permit_cancels_the_origins_task(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    mig.withdraw(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "cancelled")
    assert get_task(sh, ref=origin.task_ref_of(number)).is_closed
    assert status_at(sh, LONER) == "active"
    with pytest.raises(Conflict):  # the clerk can no longer move the person out
        origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert_nation_consistent(nation, [LONER])


def test_withdrawing_after_the_move_out_restores_the_person_at_the_origin(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, WIFE, "MIG-SPOUSE")
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_state(bj, number, "certificate_received")
    mig.withdraw(bj, actor=CLERK_BJ, number=number)
    assert get_case(bj, number=number).close_reason is CloseReason.WITHDRAWN
    with pytest.raises(Conflict):
        mig.move_in(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "restored")
    person = get_person(sh, actor="test", id_number=WIFE)
    assert (person.status, person.household_number, person.relation) == ("active", "H1", "spouse")
    with sh.db.session() as s:
        cert = s.scalars(select(PaperRow).where(PaperRow.subject_ref == number)).one()
        assert cert.revocation_reason == "withdrawn"
    assert status_at(bj, WIFE) is None
    assert_nation_consistent(nation, [WIFE])


def test_a_certificate_nearing_its_end_is_reissued_then_settled(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_state(bj, number, "certificate_received")
    first = mig.get_migration(bj, number=number).certificate_number
    assert mig.certificates_nearing_expiry(bj) == []
    assert mig.certificates_nearing_expiry(bj, within_days=31) == [number]
    mig.request_reissue(bj, actor=CLERK_BJ, number=number)
    assert wait_until(lambda: mig.get_migration(bj, number=number).certificate_number != first, 20)
    with sh.db.session() as s:
        old = s.scalars(select(PaperRow).where(PaperRow.number == first)).one()
        assert old.revocation_reason == "reissued"
    mig.move_in(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "settled")
    assert_nation_consistent(nation, [LONER])


def test_an_expired_certificate_is_not_settled_and_the_destination_abandons(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_state(bj, number, "certificate_received")
    assert wait_until(lambda: drained(nation), 20)
    nation.runner.stop()
    bj.clock = FixedClock(SystemClock().now() + timedelta(days=31))
    try:
        with pytest.raises(Conflict):
            mig.move_in(bj, actor=CLERK_BJ, number=number)
    finally:
        bj.clock = SystemClock()
    nation.runner = ExchangeRunner([exchange_of(n) for n in nation.nodes.values()], EmbeddedTransport)
    nation.runner.start()
    mig.abandon(bj, actor=CLERK_BJ, number=number, note="迁移证过期未落户")
    assert wait_task(sh, number, "restored")
    assert status_at(sh, LONER) == "active"
    assert any("终止" in t for t in _texts(nation, number))
    assert_nation_consistent(nation, [LONER])


def test_a_second_migration_of_the_same_person_is_refused_at_the_same_destination(nation: MigNation) -> None:
    number = accept(nation, nation.bj, LONER)
    with pytest.raises(Conflict) as raised:
        accept(nation, nation.bj, LONER, household="D2")
    assert number in str(raised.value)


def test_two_destinations_compete_for_one_person_and_exactly_one_wins(nation: MigNation) -> None:
    bj, gd, sh = nation.bj, nation.gd, nation.sh
    a = accept(nation, bj, LONER)
    b = accept(nation, gd, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=a)
    mig.approve(gd, actor=CLERK_GD, number=b)
    assert wait_until(lambda: {task_state(sh, a), task_state(sh, b)} == {"received", "refused"}, 30)
    winner, loser = (a, b) if task_state(sh, a) == "received" else (b, a)
    win_node, lose_node = (bj, gd) if winner == a else (gd, bj)
    assert wait_state(lose_node, loser, "refused")
    assert mig.get_migration(lose_node, number=loser).reason == "in-another-migration"
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=winner)
    assert wait_state(win_node, winner, "certificate_received")
    mig.move_in(win_node, actor=CLERK_BJ if win_node is bj else CLERK_GD, number=winner)
    assert wait_task(sh, winner, "settled")
    assert status_at(win_node, LONER) == "active" and status_at(lose_node, LONER) is None
    assert {BJ, GD} == {win_node.code, lose_node.code} and sh.code == SH
    assert_nation_consistent(nation, [LONER])


def test_a_person_the_locator_does_not_know_is_not_routed_by_the_id_prefix(nation: MigNation) -> None:
    """Without an origin from the household booklet and without the locator's answer, acceptance is refused
    with a clear error and nothing is kept: the ID number's prefix says where a person was first registered,
    not where they are registered now."""
    with pytest.raises(InvalidInput) as refused:
        accept(nation, nation.bj, STRANGER, locale="en")
    assert "household booklet" in str(refused.value)
    with nation.bj.db.session() as s:
        assert s.scalars(select(OutboxRow).where(OutboxRow.type.like("mig.%"))).first() is None
    assert_nation_consistent(nation, [STRANGER])
