"""Routing prefers the locator's answer over the ID number's prefix; an item-change certificate comes from
the person's corrections; where the catalog does not allow automatic issuing the hukou node opens a reviewer's
task and answers nothing yet; a result that answers no request, or carries a paper that is not the one asked
for, is not applied."""

from __future__ import annotations

import dataclasses
import uuid
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
    make_nation,
    make_node,
    person,
    populate,
    request_row,
)
from tests.exchange.exchange_support import wait_until

from tongban.cases.catalog import MatterCatalog
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.service import cases_setup, get_case
from tongban.cases.tables import TaskRow
from tongban.cert.service import accept_certificate
from tongban.cert.tables import CertRequestRow
from tongban.core.db import Database
from tongban.core.errors import InvalidInput
from tongban.core.node import NodeContext
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import id_digest, locator_key
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import InboxRow, LocatorAnswerRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.idnum.domain import make_id_number
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify
from tongban.registry import service as registry

MOVED = make_id_number("440305", date(1985, 4, 4), 71)  # first registered in Guangdong, now in Shanghai


@pytest.fixture
def pair(database: Database, other_db: Database, tmp_path: Path) -> tuple[NodeContext, NodeContext, Path]:
    data_dir = make_nation(tmp_path / "nation")
    a, b = make_node(A, database, data_dir), make_node(B, other_db, data_dir)
    populate(b)
    return a, b, data_dir


@pytest.fixture
def running(pair: tuple[NodeContext, NodeContext, Path]) -> Iterator[tuple[NodeContext, NodeContext, Path]]:
    a, b, _ = pair
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    try:
        yield pair
    finally:
        runner.stop()


def _closed(node: NodeContext, number: str) -> bool:
    return get_case(node, number=number).state is CaseState.CLOSED


def test_the_locators_answer_routes_a_person_who_moved_province(
    running: tuple[NodeContext, NodeContext, Path],
) -> None:
    a, b, data_dir = running
    registry.create_household(
        b,
        actor=REGISTRAR,
        number="H9",
        kind="family",
        address="上海市徐汇区测试路9号",
        division_code="310104",
        on_date=date(2020, 1, 1),
    )
    person(b, "H9", "head", MOVED, "测试己", date(1985, 4, 4), "male")
    registry.create_household(
        b,
        actor=REGISTRAR,
        number="H8",
        kind="family",
        address="x",
        division_code="310104",
        on_date=date(2020, 1, 1),
    )
    # Without a locator answer the prefix names Guangdong, which has no node here: nothing is accepted.
    with pytest.raises(InvalidInput):
        accept_certificate(a, actor=CLERK, applicant=applicant(MOVED), kind="kinship", purpose="x")
    with a.db.session() as s:
        assert s.scalar(select(CertRequestRow.id)) is None
    with a.db.transaction() as s:
        s.add(
            LocatorAnswerRow(
                question_hash=uuid.uuid4().hex * 2,
                digest=id_digest(locator_key(data_dir), MOVED),
                node=B,
                status="registered",
                answered_at=a.clock.now(),
            )
        )
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(MOVED), kind="kinship", purpose="x")
    assert (sent.recipient, sent.routed_by) == (B, "locator")
    assert wait_until(lambda: _closed(a, sent.number), 20)
    row = request_row(a, sent.number)
    assert row is not None and (row.state, row.reason) == ("refused", "no-kinship")  # alone in H9


def test_an_item_change_certificate_names_the_corrected_item(
    running: tuple[NodeContext, NodeContext, Path],
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
    running: tuple[NodeContext, NodeContext, Path],
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
    assert get_case(a, number=sent.number).state is CaseState.ACCEPTED  # waits for the reviewer


def test_a_result_for_no_request_or_with_another_paper_is_not_applied(
    running: tuple[NodeContext, NodeContext, Path],
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
