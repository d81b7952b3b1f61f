"""A CERT case is routed by the national locator's answer, never by the ID number's prefix: accepted, it waits
in ``routing`` (its deadline running) with the question in the outbox and nothing sent to any province; the
answer sends the request to the node it names, once, however often and late it arrives; an unknown person or a
cancelled registration closes the case refused at the accepting node, in the applicant's language."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from tests.cert.cert_support import (
    CLERK,
    GONE,
    LONER,
    SON,
    STRANGER,
    SUBJECT,
    WIFE,
    B,
    Nation,
    applicant,
    located,
    make_three,
    notifications,
    request_row,
    start,
)
from tests.exchange.exchange_support import wait_until

from tongban.audit.tables import AuditRow
from tongban.cases import notify, window
from tongban.cases.domain import CaseAction, CaseState, CloseReason
from tongban.cases.service import get_case
from tongban.cert.service import accept_certificate, route_on_answer
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import InboxRow, LocatorAnswerRow, OutboxRow
from tongban.exchange.transport import EmbeddedTransport, Faults, FaultyTransport


def _nation(database: Database, other_db: Database, locator_db: Database, tmp_path: Path) -> Nation:
    return make_three(database, other_db, locator_db, tmp_path / "nation")


def _requests_at(node: NodeContext) -> int:
    with node.db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.type == "cert.request.v1"))
            or 0
        )


def _closed(node: NodeContext, number: str) -> bool:
    return get_case(node, number=number).state is CaseState.CLOSED


def test_the_case_waits_in_routing_until_the_locator_answers(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = _nation(database, other_db, locator_db, tmp_path)
    a = nation.a
    # The locator learns Shanghai's registrations; Beijing's exchange is not running yet.
    early = ExchangeRunner([exchange_of(nation.b), exchange_of(nation.locator)], EmbeddedTransport)
    early.start()
    try:
        assert wait_until(lambda: located(nation.b, nation.locator), 30)
    finally:
        early.stop()
    sent = accept_certificate(
        a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="继承公证"
    )
    assert (sent.state, sent.recipient, sent.routed_by) == ("routing", None, "locator")
    row = request_row(a, sent.number)
    assert row is not None and row.state == "routing" and row.recipient is None and row.request_hash is None
    assert row.pending is not None and row.pending["id_number"] == SUBJECT
    case = get_case(a, number=sent.number)
    # The official clock runs while the locator is asked: the deadline is set and nothing pauses it.
    assert case.state is CaseState.ACCEPTED and case.deadline_at is not None and not case.pauses
    with a.db.session() as s:
        recipients = [r for r in s.scalars(select(OutboxRow.recipient).where(OutboxRow.case_ref.is_(None)))]
        assert LOCATOR_CODE in recipients
        assert s.scalar(select(OutboxRow.id).where(OutboxRow.type == "cert.request.v1")) is None
        assert "cert.request.route" in set(s.scalars(select(AuditRow.action)))

    runner = start([a, nation.b, nation.locator])
    try:
        assert wait_until(lambda: _closed(a, sent.number), 30)
    finally:
        runner.stop()
    case = get_case(a, number=sent.number)
    assert case.close_reason is CloseReason.COMPLETED
    assert [e.action for e in case.events][:2] == [CaseAction.ACCEPT, CaseAction.START]
    assert case.events[1].actor == "system:cert-routing"
    row = request_row(a, sent.number)
    assert row is not None and row.recipient == B and row.pending is None and row.state == "issued"


def test_an_unknown_person_or_a_cancelled_registration_is_refused_here(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = _nation(database, other_db, locator_db, tmp_path)
    a, b = nation.a, nation.b
    runner = start([a, b, nation.locator])
    try:
        unknown = accept_certificate(
            a, actor=CLERK, applicant=applicant(STRANGER), kind="kinship", purpose="x"
        )
        cancelled = accept_certificate(
            a, actor=CLERK, applicant=applicant(GONE, "en"), kind="kinship", purpose="x"
        )
        # A cancellation certificate of the same person goes to the node that cancelled the registration.
        gone = accept_certificate(a, actor=CLERK, applicant=applicant(GONE), kind="cancellation", purpose="x")
        numbers = (unknown.number, cancelled.number, gone.number)
        assert wait_until(lambda: all(_closed(a, n) for n in numbers), 30)
    finally:
        runner.stop()
    row = request_row(a, unknown.number)
    assert row is not None and (row.state, row.reason, row.recipient) == ("refused", "not-located", None)
    assert get_case(a, number=unknown.number).close_reason is CloseReason.REFUSED
    texts = [notify.render(n) for n in notifications(a, unknown.number)]
    assert any("此人未在任何省份登记户口" in t for t in texts), texts
    row = request_row(a, cancelled.number)
    assert row is not None and (row.state, row.reason) == ("refused", "registration-cancelled")
    texts = [notify.render(n) for n in notifications(a, cancelled.number)]
    assert any("registration is cancelled" in t for t in texts), texts
    row = request_row(a, gone.number)
    assert row is not None and (row.state, row.recipient) == ("issued", B)
    assert _requests_at(b) == 1  # only the cancellation certificate was sent to Shanghai
    with a.db.session() as s:
        unroutable = s.scalars(
            select(AuditRow.object_id).where(AuditRow.action == "cert.request.unroutable")
        ).all()
        assert sorted(unroutable) == sorted([unknown.number, cancelled.number])


def test_a_case_withdrawn_while_routing_sends_nothing(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = _nation(database, other_db, locator_db, tmp_path)
    a, b = nation.a, nation.b
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")
    window.act(a, actor=CLERK, number=sent.number, action=CaseAction.WITHDRAW, reason="applicant left")
    runner = start([a, b, nation.locator])
    try:
        assert wait_until(lambda: (r := request_row(a, sent.number)) is not None and r.state == "closed", 30)
    finally:
        runner.stop()
    row = request_row(a, sent.number)
    assert row is not None and row.pending is None and row.recipient is None
    assert _requests_at(b) == 0


def test_a_repeated_answer_sends_the_request_once(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = _nation(database, other_db, locator_db, tmp_path)
    a = nation.a
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")
    row = request_row(a, sent.number)
    assert row is not None and row.question_hash is not None
    answer = LocatorAnswerRow(
        question_hash=row.question_hash,
        digest="0" * 64,
        node=B,
        status="registered",
        answered_at=a.clock.now(),
    )
    for _ in range(3):  # the same answer applied again (a replay): routed once
        with a.db.transaction() as s:
            route_on_answer(s, a, answer)
    with a.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.type == "cert.request.v1"))
            == 1
        )
    # An answer to another question changes nothing.
    other = LocatorAnswerRow(
        question_hash="f" * 64, digest="0" * 64, node=None, status="unknown", answered_at=a.clock.now()
    )
    with a.db.transaction() as s:
        route_on_answer(s, a, other)
    row = request_row(a, sent.number)
    assert row is not None and row.state == "sent" and row.recipient == B


def test_delayed_duplicated_and_reordered_answers_route_each_case_once(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = _nation(database, other_db, locator_db, tmp_path)
    a, b = nation.a, nation.b
    transport = FaultyTransport(EmbeddedTransport(), Faults(duplicate=0.6, delay=0.5, reorder=0.3), 7)
    runner = start([a, b, nation.locator], lambda: transport, timeout=60)
    try:
        people = (SUBJECT, WIFE, SON, LONER, STRANGER, SUBJECT)
        numbers = [
            accept_certificate(a, actor=CLERK, applicant=applicant(p), kind="kinship", purpose="x").number
            for p in people
        ]
        assert wait_until(lambda: all(_closed(a, n) for n in numbers), 60)
    finally:
        runner.stop()
    assert transport.counts["duplicated"] > 0 and transport.counts["delayed"] > 0
    reasons = [(r.state, r.reason) for r in (request_row(a, n) for n in numbers) if r is not None]
    assert reasons == [
        ("issued", None),
        ("issued", None),
        ("issued", None),
        ("refused", "no-kinship"),
        ("refused", "not-located"),
        ("issued", None),
    ]
    assert _requests_at(b) == 5  # the stranger's case never left Beijing; every other case once
