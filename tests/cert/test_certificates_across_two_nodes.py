"""A CERT case accepted in Beijing for a person registered in Shanghai, over the embedded exchange: Shanghai
checks its register, logs the read with the case as the reason, issues the paper automatically, and Beijing
attaches it and completes the case (the paper verifies offline); each refusal reaches the applicant with its
reason in their language."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.cert.cert_support import (
    CLERK,
    GONE,
    LONER,
    SON,
    STRANGER,
    SUBJECT,
    WIFE,
    A,
    B,
    applicant,
    make_three,
    notifications,
    request_row,
    start,
)
from tests.exchange.exchange_support import wait_until

from tongban.access.tables import RecordView
from tongban.audit.tables import AuditRow
from tongban.cases import notify
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.service import get_case
from tongban.cert.domain import CertKind, RequestedFacts
from tongban.cert.service import accept_certificate, request_certificate
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.service import exchange_of
from tongban.papers import forms
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify


@pytest.fixture
def nodes(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> Iterator[tuple[NodeContext, NodeContext]]:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    runner = start([nation.a, nation.b, nation.locator])
    try:
        yield nation.a, nation.b
    finally:
        runner.stop()


def _closed(node: NodeContext, number: str) -> bool:
    return get_case(node, number=number).state is CaseState.CLOSED


def test_kinship_certificate_is_issued_there_and_completes_the_case_here(
    nodes: tuple[NodeContext, NodeContext],
) -> None:
    a, b = nodes
    sent = accept_certificate(
        a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="办理继承公证"
    )
    assert sent.recipient is None and sent.state == "routing"  # the locator is asked first
    assert wait_until(lambda: _closed(a, sent.number), 20)

    case = get_case(a, number=sent.number)
    assert case.close_reason is CloseReason.COMPLETED
    row = request_row(a, sent.number)
    assert row is not None and row.state == "issued" and row.paper_json is not None
    # The attached paper verifies offline against the directory, and says what Shanghai's register says.
    resolver = DirectoryKeyResolver(exchange_of(a).directory)
    verdict = verify(row.paper_json, resolver, None, a.clock.now())
    assert verdict.status is Status.VALID and verdict.paper is not None
    assert verdict.paper.issuer == B and verdict.paper.type == "cert.kinship"
    assert verdict.paper.subject == {"name": "测试甲", "id_number": SUBJECT}
    assert [r["name"] for r in verdict.paper.facts["relatives"]] == ["测试乙", "测试丙"]
    assert [r["relation"] for r in verdict.paper.facts["relatives"]] == ["配偶", "子女"]
    # The same bytes as Shanghai stored: its QR form reads back to the same paper.
    signed = forms.from_json_bytes(row.paper_json.encode())
    assert verify(forms.to_qr_text(signed), resolver, None, a.clock.now()).status is Status.VALID

    # Shanghai logged the read of the person's record with Beijing's case as the reason, and audited.
    with b.db.session() as s:
        views = s.scalars(select(RecordView)).all()
        assert [(v.reason, v.reason_ref, v.viewer_id) for v in views] == [
            ("case", f"{A}/{sent.number}", f"node:{A}")
        ]
        actions = set(s.scalars(select(AuditRow.action)))
        assert {"cert.request.decide", "papers.paper.issue"} <= actions
    with a.db.session() as s:
        actions = set(s.scalars(select(AuditRow.action)))
        assert {
            "cases.case.create",
            "cases.consent.record",
            "cert.request.send",
            "cert.result.apply",
        } <= actions
    texts = [notify.render(n) for n in notifications(a, sent.number)]
    assert any(verdict.paper.number in t and "已出具" in t for t in texts), texts


def test_a_relative_named_must_be_in_the_household(nodes: tuple[NodeContext, NodeContext]) -> None:
    a, _ = nodes
    ok = accept_certificate(
        a,
        actor=CLERK,
        applicant=applicant(SUBJECT),
        kind=CertKind.KINSHIP,
        purpose="探亲",
        facts=RequestedFacts(relative_id_number=SON),
    )
    refused = accept_certificate(
        a,
        actor=CLERK,
        applicant=applicant(WIFE, "en"),
        kind=CertKind.KINSHIP,
        purpose="visit",
        facts=RequestedFacts(relative_id_number=LONER),
    )
    assert wait_until(lambda: _closed(a, ok.number) and _closed(a, refused.number), 20)
    assert get_case(a, number=ok.number).close_reason is CloseReason.COMPLETED
    row = request_row(a, refused.number)
    assert row is not None and (row.state, row.reason) == ("refused", "no-kinship")
    texts = [notify.render(n) for n in notifications(a, refused.number)]
    assert any("no such kinship is recorded" in t for t in texts), texts


@pytest.mark.parametrize(
    ("id_number", "kind", "reason", "zh", "locale"),
    [
        (LONER, "kinship", "no-kinship", "户籍登记中没有该亲属关系", "zh_CN"),
        (STRANGER, "kinship", "not-located", "此人未在任何省份登记户口", "zh_CN"),
        (SUBJECT, "cancellation", "not-cancelled", "没有注销户口的记录", "zh_CN"),
        (
            STRANGER,
            "item_change",
            "not-located",
            "the person is not registered in any province",
            "en",
        ),
    ],
)
def test_refusals_reach_the_applicant_in_their_language(
    nodes: tuple[NodeContext, NodeContext], id_number: str, kind: str, reason: str, zh: str, locale: str
) -> None:
    a, b = nodes
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(id_number, locale), kind=kind, purpose="x")
    assert wait_until(lambda: _closed(a, sent.number), 20)
    case = get_case(a, number=sent.number)
    assert case.close_reason is CloseReason.REFUSED
    row = request_row(a, sent.number)
    assert row is not None and (row.state, row.reason) == ("refused", reason)
    texts = [notify.render(n) for n in notifications(a, sent.number)]
    assert any(zh in t for t in texts), texts
    with b.db.session() as s:
        assert (
            s.scalars(select(AuditRow.action).where(AuditRow.action == "papers.paper.issue")).first() is None
        )


def test_a_cancellation_certificate_comes_from_the_journal(nodes: tuple[NodeContext, NodeContext]) -> None:
    a, _ = nodes
    sent = accept_certificate(
        a, actor=CLERK, applicant=applicant(GONE), kind="cancellation", purpose="销户证明"
    )
    assert wait_until(lambda: _closed(a, sent.number), 20)
    row = request_row(a, sent.number)
    assert row is not None and row.state == "issued" and row.paper_json is not None
    verdict = verify(row.paper_json, DirectoryKeyResolver(exchange_of(a).directory), None, a.clock.now())
    assert verdict.status is Status.VALID and verdict.paper is not None
    assert verdict.paper.facts["reason"] == "emigration"
    assert verdict.paper.facts["cancelled_on"] == "2024-06-01"
    assert verdict.paper.facts["former_division"] == "310104"


def test_a_request_without_consent_is_refused_without_reading_the_register(
    nodes: tuple[NodeContext, NodeContext],
) -> None:
    a, b = nodes
    sent = accept_certificate(a, actor=CLERK, applicant=applicant(LONER), kind="kinship", purpose="x")
    assert wait_until(lambda: _closed(a, sent.number), 20)
    # A second request of another case, sent without a consent (a node that skipped recording one).
    from tongban.cases.window import accept

    case = accept(a, actor=CLERK, matter="CERT", applicant=applicant(SUBJECT, "en"))
    with a.db.transaction() as s:
        request_certificate(
            s,
            node=a,
            case_number=case.number,
            kind=CertKind.KINSHIP,
            id_number=SUBJECT,
            purpose="x",
            facts=RequestedFacts(),
            consent_ref=None,
            recipient=B,
            routed_by="locator",
        )
    assert wait_until(lambda: _closed(a, case.number), 20)
    row = request_row(a, case.number)
    assert row is not None and (row.state, row.reason) == ("refused", "consent-missing")
    texts = [notify.render(n) for n in notifications(a, case.number)]
    assert any("consent is missing" in t for t in texts), texts
    with b.db.session() as s:
        # Only the first (consented) request read a record.
        assert len(s.scalars(select(RecordView)).all()) == 1
