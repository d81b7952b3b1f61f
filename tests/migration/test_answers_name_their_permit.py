"""The origin's answers name the permit they answer, and the destination applies none that does not name its
own (SQLite and PostgreSQL): the permit's hash (SHA-256 of the permit envelope's bytes) is kept with the case
when it is sent, and the origin's certificate and refusal carry it in the body and as the envelope's
``in_reply_to``. An answer naming another hash, in either place, is recorded (``migration.answer.mismatch``)
and changes nothing; the saga then ends the ordinary way (the destination abandons, the origin restores)."""

from __future__ import annotations

from sqlalchemy import select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    LONER,
    ORIGIN_CLERK,
    SH,
    MigNation,
    accept,
    assert_nation_consistent,
    drained,
    mig_state,
    status_at,
    task_state,
    wait_task,
)

from tongban.audit.tables import AuditRow
from tongban.exchange.service import enqueue
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.migration.domain import REFUSED_TYPE, Refusal, RefusedMessage
from tongban.migration.tables import MigrationCaseRow, MigrationTaskRow

OTHER = "0" * 64


def _mismatches(nation: MigNation, number: str) -> int:
    with nation.bj.db.session() as s:
        return len(
            s.scalars(
                select(AuditRow.seq).where(
                    AuditRow.action == "migration.answer.mismatch", AuditRow.object_id == number
                )
            ).all()
        )


def _refuse_from_origin(nation: MigNation, number: str, *, body_hash: str, reply_to: str) -> None:
    sh = nation.sh
    with sh.db.transaction() as s:
        body = RefusedMessage(case_ref=number, permit_hash=body_hash, reason=Refusal.ORIGIN_REFUSED, note="x")
        enqueue(
            s,
            node=sh,
            recipient=BJ,
            type=REFUSED_TYPE,
            body=body.model_dump(mode="json"),
            case_ref=number,
            in_reply_to=reply_to,
        )


def test_an_answer_that_names_another_permit_is_recorded_and_never_applied(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    with bj.db.session() as s:
        sent = s.scalars(
            select(MigrationCaseRow.permit_hash).where(MigrationCaseRow.case_number == number)
        ).one()
    with sh.db.session() as s:
        received = s.scalars(
            select(MigrationTaskRow.permit_hash).where(MigrationTaskRow.case_number == number)
        ).one()
    assert sent is not None and sent == received

    # A refusal naming another permit, in the body or in the envelope: recorded, not applied.
    _refuse_from_origin(nation, number, body_hash=OTHER, reply_to=OTHER)
    _refuse_from_origin(nation, number, body_hash=sent, reply_to=OTHER)
    _refuse_from_origin(nation, number, body_hash=OTHER, reply_to=sent)
    assert wait_until(lambda: drained(nation) and _mismatches(nation, number) == 3, 30)
    assert mig_state(bj, number) == "permit_sent"

    # A certificate answering another permit (the origin's task names another hash): not applied either.
    with sh.db.transaction() as s:
        row = s.scalars(select(MigrationTaskRow).where(MigrationTaskRow.case_number == number)).one()
        row.permit_hash = "f" * 64
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert task_state(sh, number) == "moved_out" and status_at(sh, LONER) == "in_transit"
    assert wait_until(lambda: drained(nation) and _mismatches(nation, number) == 4, 30)
    assert mig_state(bj, number) == "permit_sent"
    assert mig.get_migration(bj, number=number).certificate_number is None

    # The destination alone ends it: the abandon makes the origin restore her.
    mig.abandon(bj, actor=CLERK_BJ, number=number, note="迁移证与准迁证不符")
    assert wait_task(sh, number, "restored")
    assert status_at(sh, LONER) == "active"
    assert_nation_consistent(nation, [LONER])


def test_the_matching_answer_is_applied(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_until(lambda: mig_state(bj, number) == "certificate_received", 30)
    assert _mismatches(nation, number) == 0
    assert mig.get_migration(bj, number=number).origin == SH
