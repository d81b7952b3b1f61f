"""Routing follows the locator's answer, never the ID number's prefix; an item-change certificate comes from
the person's corrections; where the catalog does not allow automatic issuing the hukou node opens a reviewer's
task and answers nothing yet; a result that answers no request, or carries a paper that is not the one asked
for, is not applied."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.cert.cert_support import (
    CLERK,
    REGISTRAR,
    SUBJECT,
    WIFE,
    A,
    B,
    applicant,
    located,
    make_three,
    person,
    request_row,
    start,
)
from tests.exchange.exchange_support import wait_until

from tongban.access.tables import RecordView
from tongban.audit.tables import AuditRow
from tongban.cases.catalog import MatterCatalog
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.service import cases_setup, get_case
from tongban.cases.tables import TaskRow
from tongban.cert.service import Reviewer, accept_certificate, decide_review
from tongban.cert.tables import CertRequestRow, CertReviewRow
from tongban.core.db import Database
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.node import NodeContext
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import InboxRow
from tongban.idnum.domain import make_id_number
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify
from tongban.registry import service as registry

MOVED = make_id_number("440305", date(1985, 4, 4), 71)  # first registered in Guangdong, now in Shanghai


@pytest.fixture
def running(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> Iterator[tuple[NodeContext, NodeContext, NodeContext]]:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    runner = start([nation.a, nation.b, nation.locator])
    try:
        yield nation.a, nation.b, nation.locator
    finally:
        runner.stop()


def _closed(node: NodeContext, number: str) -> bool:
    return get_case(node, number=number).state is CaseState.CLOSED


def test_the_locators_answer_routes_a_person_who_moved_province(
    running: tuple[NodeContext, NodeContext, NodeContext],
) -> None:
    a, b, loc = running
    registry.create_household(
        b,
        actor=REGISTRAR,
        number="H9",
        kind="family",
        address="上海市徐汇区测试路9号",
        division_code="310104",
        on_date=date(2020, 1, 1),
    )
    # First registered in Guangdong (the prefix), now in Shanghai: only the locator knows.
    person(b, "H9", "head", MOVED, "测试己", date(1985, 4, 4), "male")
    assert wait_until(lambda: located(b, loc), 20)
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(MOVED), kind="kinship", purpose="x")
    assert sent.routed_by == "locator" and sent.recipient is None
    assert wait_until(lambda: _closed(a, sent.number), 20)
    row = request_row(a, sent.number)
    assert row is not None and row.recipient == B and row.routed_by == "locator"
    assert (row.state, row.reason) == ("refused", "no-kinship")  # alone in H9: B answered
    assert row.pending is None  # the ID number is not kept once the request left


def test_an_item_change_certificate_names_the_corrected_item(
    running: tuple[NodeContext, NodeContext, NodeContext],
) -> None:
    a, b, _ = running
    registry.correct_person(b, actor=REGISTRAR, id_number=WIFE, changes={"name": "测试庚"}, reason="更正姓名")
    from tongban.cert.domain import RequestedFacts

    sent = accept_certificate(
        a,
        actor=CLERK,
        applicant=applicant(WIFE),
        kind="item_change",
        purpose="x",
        facts=RequestedFacts(item="name"),
    )
    assert wait_until(lambda: _closed(a, sent.number), 20)
    row = request_row(a, sent.number)
    assert row is not None and row.state == "issued" and row.paper_json is not None
    verdict = verify(row.paper_json, DirectoryKeyResolver(exchange_of(a).directory), None, a.clock.now())
    assert verdict.status is Status.VALID and verdict.paper is not None
    assert verdict.paper.type == "cert.item-change"
    assert (
        verdict.paper.facts["item"],
        verdict.paper.facts["old_value"],
        verdict.paper.facts["new_value"],
    ) == (
        "name",
        "测试乙",
        "测试庚",
    )
    assert verdict.paper.subject["name"] == "测试庚"


def test_without_automatic_issuing_a_reviewer_task_is_opened(
    running: tuple[NodeContext, NodeContext, NodeContext],
) -> None:
    a, b, _ = running
    setup = cases_setup(b)
    cert = setup.catalog.get("CERT").model_copy(update={"allows_automatic": False})
    catalog = MatterCatalog({**setup.catalog.matters, "CERT": cert})
    b.services["cases"] = dataclasses.replace(setup, catalog=catalog)
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")

    def task_open() -> bool:
        with b.db.session() as s:
            return s.scalar(select(TaskRow.ref).where(TaskRow.ref == f"cert:{A}:{sent.number}")) is not None

    assert wait_until(task_open, 20)
    with b.db.session() as s:
        task = s.scalars(select(TaskRow)).one()
        assert (task.matter, task.step) == ("CERT", "issue")
    assert get_case(a, number=sent.number).state is CaseState.IN_PROGRESS  # routed; waits for the reviewer
    with b.db.session() as s:
        review = s.scalars(select(CertReviewRow)).one()
        assert (review.sender, review.case_ref, review.state) == (A, sent.number, "open")
        assert review.division_code == "310104" and review.id_number == SUBJECT
        task_ref = review.task_ref

    reviewer = Reviewer(id="user:reviewer-b", division="310104", office="OFF-SH")
    with pytest.raises(InvalidInput):  # a refusal names its reason; the accepting node's reasons are not B's
        decide_review(b, reviewer=reviewer, task_ref=task_ref, issue=False)
    with pytest.raises(InvalidInput):
        decide_review(b, reviewer=reviewer, task_ref=task_ref, issue=False, reason="not-located")
    decided = decide_review(b, reviewer=reviewer, task_ref=task_ref, issue=True)
    assert decided.state == "issued" and decided.paper_number is not None
    with pytest.raises(Conflict):  # decided once
        decide_review(b, reviewer=reviewer, task_ref=task_ref, issue=False, reason="no-kinship")
    assert wait_until(lambda: _closed(a, sent.number), 20)
    assert get_case(a, number=sent.number).close_reason is CloseReason.COMPLETED
    row = request_row(a, sent.number)
    assert row is not None and row.paper_number == decided.paper_number
    with b.db.session() as s:
        review_row = s.scalars(select(CertReviewRow)).one()
        assert review_row.id_number is None  # not kept after the decision
        task = s.scalars(select(TaskRow)).one()
        assert (task.state, task.outcome) == ("closed", "done")
        # The reviewer's read of the record is logged with the case as the reason (as is the check's).
        viewers = [v.viewer_id for v in s.scalars(select(RecordView).order_by(RecordView.id))]
        assert viewers == [f"node:{A}", "user:reviewer-b"]
        assert "cert.review.decide" in set(s.scalars(select(AuditRow.action)))

    refused = accept_certificate(a, actor=CLERK, applicant=applicant(WIFE, "en"), kind="kinship", purpose="x")
    ref = f"cert:{A}:{refused.number}"

    def open_review() -> bool:
        with b.db.session() as s:
            return s.scalar(select(CertReviewRow.id).where(CertReviewRow.task_ref == ref)) is not None

    assert wait_until(open_review, 20)
    decide_review(b, reviewer=reviewer, task_ref=ref, issue=False, reason="no-kinship")
    assert wait_until(lambda: _closed(a, refused.number), 20)
    row = request_row(a, refused.number)
    assert row is not None and (row.state, row.reason) == ("refused", "no-kinship")


def test_a_result_for_no_request_or_with_another_paper_is_not_applied(
    running: tuple[NodeContext, NodeContext, NodeContext],
) -> None:
    a, b, _ = running
    first = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")
    second = accept_certificate(a, actor=CLERK, applicant=applicant(WIFE), kind="kinship", purpose="x")
    assert wait_until(lambda: _closed(a, first.number) and _closed(a, second.number), 20)
    one, two = request_row(a, first.number), request_row(a, second.number)
    assert one is not None and two is not None and one.paper_json and two.paper_json
    # B answers the second request again with the first case's paper: A refuses to attach it (parked).
    from tongban.cert.domain import CertResult
    from tongban.exchange.service import enqueue

    with b.db.transaction() as s:
        assert two.request_hash is not None
        with a.db.transaction() as sa:
            row = sa.get(CertRequestRow, two.id)
            assert row is not None
            row.state = "sent"  # as if still open at A
        body = CertResult(
            case_ref=second.number, request_hash=two.request_hash, outcome="issued", paper=one.paper_json
        )
        enqueue(
            s,
            node=b,
            recipient=A,
            type="cert.result.v1",
            body=body.model_dump(mode="json"),
            case_ref=second.number,
            in_reply_to=two.request_hash,
        )
        bogus = CertResult(
            case_ref=second.number, request_hash="0" * 64, outcome="refused", reason="no-kinship"
        )
        enqueue(
            s,
            node=b,
            recipient=A,
            type="cert.result.v1",
            body=bogus.model_dump(mode="json"),
            case_ref=second.number,
            in_reply_to="0" * 64,
        )

    def both_failed() -> bool:
        with a.db.session() as s:
            rows = s.scalars(
                select(InboxRow).where(InboxRow.type == "cert.result.v1", InboxRow.error.is_not(None))
            ).all()
            return len(rows) == 2

    assert wait_until(both_failed, 20)
    row = request_row(a, second.number)
    assert row is not None and row.paper_json == two.paper_json and row.state == "sent"
    assert get_case(a, number=second.number).close_reason is CloseReason.COMPLETED
