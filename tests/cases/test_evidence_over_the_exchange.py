"""Evidence requests through the exchange: a migration case accepted in Beijing asks Shanghai's register for the
applicant's origin hukou record under the recorded consent. Shanghai checks the consent reference and its
register, logs the read with the case as the reason and answers with an extract (or a refusal with its
reason); Beijing attaches the extract as a looked-up material and the clerk sees it on the case page. The ID
number travels only encrypted. Also through a transport that duplicates and delays, and over JetStream."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.access.helpers import FAST, Env, add, signed_in
from tests.cert.cert_support import (
    CLERK,
    SON,
    STRANGER,
    SUBJECT,
    WIFE,
    A,
    B,
    applicant,
    make_nation,
    make_node,
    populate,
)
from tests.exchange.exchange_support import delete_stream, unique_stream_settings, wait_until

from tongban.access.domain import Role
from tongban.access.tables import RecordView
from tongban.audit.tables import AuditRow
from tongban.cases import evidence, materials, store, window
from tongban.cases.tables import EvidenceRequestRow, LookedUpMaterialRow
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import enqueue, exchange_of
from tongban.exchange.tables import OutboxRow
from tongban.exchange.transport import (
    EmbeddedTransport,
    Faults,
    FaultyTransport,
    JetStreamTransport,
    Transport,
)
from tongban.web.app import Runtime, create_app

MATTER, MATERIAL = "MIG-JOB", "origin_hukou_record"


def open_case(a: NodeContext, id_number: str) -> tuple[str, str]:
    """A case at A with the applicant's recorded consent: (case number, consent id)."""
    case = window.accept(a, actor=CLERK, matter=MATTER, applicant=applicant(id_number))
    consent = materials.record_consent(
        a, case_number=case.number, purpose="origin hukou record", channel="window", actor=CLERK.id
    )
    return case.number, consent


def ask(a: NodeContext, number: str, consent: str, id_number: str) -> materials.EvidenceRequest:
    return materials.request_evidence(
        a,
        case_number=number,
        consent_id=consent,
        target_node=B,
        material=MATERIAL,
        actor=CLERK.id,
        id_number=id_number,
    )


def row(node: NodeContext, request_id: str) -> EvidenceRequestRow:
    with node.db.session() as s:
        found = s.get(EvidenceRequestRow, request_id)
        assert found is not None
        s.expunge(found)
        return found


def answered(a: NodeContext, *ids: str) -> Callable[[], bool]:
    return lambda: all(row(a, i).state in (evidence.RECEIVED, evidence.REFUSED) for i in ids)


def count(node: NodeContext, table: type, *where: object) -> int:
    with node.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def pair(database: Database, other_db: Database, tmp_path: Path) -> tuple[NodeContext, NodeContext]:
    data_dir = make_nation(tmp_path / "nation")
    a, b = make_node(A, database, data_dir), make_node(B, other_db, data_dir)
    populate(b)
    return a, b


def test_the_extract_comes_back_as_a_looked_up_material(
    database: Database, other_db: Database, tmp_path: Path
) -> None:
    a, b = pair(database, other_db, tmp_path)
    number, consent = open_case(a, SUBJECT)
    stranger_case, stranger_consent = open_case(a, STRANGER)
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    try:
        found = ask(a, number, consent, SUBJECT)
        assert found.state == evidence.QUEUED and found.envelope_id is not None
        unknown = ask(a, stranger_case, stranger_consent, STRANGER)
        assert wait_until(answered(a, found.id, unknown.id), 20)
    finally:
        runner.stop()

    # At A: the extract is a looked-up material of the case; the unknown person is a refusal with its reason.
    got = row(a, found.id)
    assert got.state == evidence.RECEIVED and got.answered_at is not None
    assert got.subject_ref == window.applicant_ref(a, SUBJECT)
    with a.db.session() as s:
        material = s.scalars(
            select(LookedUpMaterialRow).where(LookedUpMaterialRow.request_id == found.id)
        ).one()
        record = material.record
        assert material.material == MATERIAL and material.source_node == B
        raw = s.get(OutboxRow, found.envelope_id)
        assert raw is not None and SUBJECT.encode() not in raw.raw  # the ID number travelled encrypted
        receipts = s.scalars(select(AuditRow.action).where(AuditRow.action == "cases.evidence.receive")).all()
        assert len(receipts) == 2
    assert record["name"] == "测试甲" and record["id_number"] == SUBJECT
    assert (
        record["household_number"] == "H1" and record["relation"] == "head" and record["status"] == "active"
    )
    assert record["division_code"] == "310104" and "测试路1号" in record["address"]
    refused = row(a, unknown.id)
    assert refused.state == evidence.REFUSED and refused.reason == "not-registered"
    assert count(a, LookedUpMaterialRow) == 1

    # At B: one read of the person's record, with A's case as the reason; the answers audited.
    with b.db.session() as s:
        views = s.scalars(select(RecordView)).all()
        assert [(v.reason, v.reason_ref, v.viewer_id) for v in views] == [
            ("case", f"{A}/{number}", f"node:{A}")
        ]
        answers = s.scalars(select(AuditRow.action).where(AuditRow.action == "cases.evidence.answer")).all()
        assert len(answers) == 2

    # The clerk at A sees the extract on the case page, and that view is an access record too.
    runtime = Runtime(settings=a.settings, nodes={A: a}, extras={"access_settings": FAST})
    env = Env(database, a, runtime, create_app(runtime), FixedClock(a.clock.now()), FAST)
    client, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.ev", division="110105", office="OFF-A"))
    page = client.get(f"/cases/{number}")
    assert page.status_code == 200, page.text
    assert f'data-evidence="{found.id}" data-state="received"' in page.text
    assert "测试甲" in page.text and "上海市徐汇区测试路1号" in page.text and "户主" in page.text
    en = client.get(f"/cases/{stranger_case}?lang=en")
    assert "the person is not in this registry" in en.text and "测试" not in en.text
    runtime.nodes[A].services["access.views"].flush()
    with a.db.session() as s:
        seen = s.scalars(select(RecordView).where(RecordView.person_ref == got.subject_ref)).all()
        assert [(v.reason, v.reason_ref) for v in seen] == [("case", number)]


def test_without_the_consent_reference_nothing_is_read(
    database: Database, other_db: Database, tmp_path: Path
) -> None:
    a, b = pair(database, other_db, tmp_path)
    number, consent = open_case(a, SUBJECT)
    request_id = str(uuid.uuid4())
    with a.db.transaction() as s:
        # A request whose envelope does not reference the consent its body names (as a faulty node might send).
        body = evidence.EvidenceAsk(
            request_id=request_id,
            case_ref=number,
            consent_ref=consent,
            consent_purpose="x",
            consent_granted_at=a.clock.now(),
            material=MATERIAL,
            registry="hukou",
            id_number=SUBJECT,
        )
        eid = enqueue(
            s,
            node=a,
            recipient=B,
            type=evidence.REQUEST_TYPE,
            body=body.model_dump(mode="json"),
            case_ref=number,
        )
        s.add(
            EvidenceRequestRow(
                id=request_id,
                case_id=store.load_case(s, number).id,
                consent_id=consent,
                target_node=B,
                material=MATERIAL,
                state=evidence.QUEUED,
                envelope_id=str(eid),
                created_at=a.clock.now(),
                created_by=CLERK.id,
                subject_ref=window.applicant_ref(a, SUBJECT),
                request_hash=evidence.sent_hash(s, str(eid)),
            )
        )
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    try:
        assert wait_until(answered(a, request_id), 20)
    finally:
        runner.stop()
    got = row(a, request_id)
    assert got.state == evidence.REFUSED and got.reason == "consent-missing"
    assert count(b, RecordView) == 0 and count(a, LookedUpMaterialRow) == 0


def test_a_node_outside_the_directory_is_refused_at_once(
    database: Database, other_db: Database, tmp_path: Path
) -> None:
    a, _ = pair(database, other_db, tmp_path)
    number, consent = open_case(a, SUBJECT)
    with pytest.raises(materials.InvalidInput):
        materials.request_evidence(
            a,
            case_number=number,
            consent_id=consent,
            target_node="650000",
            material=MATERIAL,
            actor=CLERK.id,
            id_number=SUBJECT,
        )
    assert count(a, EvidenceRequestRow) == 0


def _run_many(a: NodeContext, b: NodeContext, transports: list[Callable[[], Transport]]) -> None:
    people = [SUBJECT, WIFE, SON, SUBJECT, WIFE, SON]
    cases = [open_case(a, who) for who in people]
    runners = (
        [ExchangeRunner([exchange_of(a), exchange_of(b)], transports[0])]
        if len(transports) == 1
        else [
            ExchangeRunner([exchange_of(a)], transports[0]),
            ExchangeRunner([exchange_of(b)], transports[1]),
        ]
    )
    for r in runners:
        r.start()
    try:
        ids = [ask(a, n, c, who).id for (n, c), who in zip(cases, people, strict=True)]
        assert wait_until(answered(a, *ids), 60)
    finally:
        for r in runners:
            r.stop()
    assert all(row(a, i).state == evidence.RECEIVED for i in ids)
    # Each request answered once: one looked-up material at A, one logged read at B, per request.
    assert count(a, LookedUpMaterialRow) == len(ids)
    assert count(b, RecordView) == len(ids)
    assert count(b, AuditRow, AuditRow.action == "cases.evidence.answer") == len(ids)


def test_each_request_is_answered_once_through_duplicates_and_delays(
    database: Database, other_db: Database, tmp_path: Path
) -> None:
    a, b = pair(database, other_db, tmp_path)
    transport = FaultyTransport(EmbeddedTransport(), Faults(duplicate=0.5, delay=0.3, drop=0.2), 7)
    _run_many(a, b, [lambda: transport])
    assert transport.counts["duplicated"] > 0 and transport.counts["delayed"] > 0


def test_evidence_over_jetstream(
    database: Database, other_db: Database, tmp_path: Path, nats_url: str
) -> None:
    data_dir = make_nation(tmp_path / "nation")
    settings = unique_stream_settings()
    a, b = make_node(A, database, data_dir), make_node(B, other_db, data_dir)
    exchange_of(a).settings = settings
    exchange_of(b).settings = settings
    populate(b)
    faults = Faults(duplicate=0.3, delay=0.2)
    try:
        _run_many(
            a,
            b,
            [
                lambda: FaultyTransport(JetStreamTransport(nats_url, settings), faults, 3),
                lambda: FaultyTransport(JetStreamTransport(nats_url, settings), faults, 4),
            ],
        )
    finally:
        delete_stream(nats_url, settings.stream_name)


def test_the_clerk_asks_from_the_case_page(database: Database, other_db: Database, tmp_path: Path) -> None:
    a, b = pair(database, other_db, tmp_path)
    case = window.accept(a, actor=CLERK, matter=MATTER, applicant=applicant(WIFE))
    runtime = Runtime(settings=a.settings, nodes={A: a}, extras={"access_settings": FAST})
    env = Env(database, a, runtime, create_app(runtime), FixedClock(a.clock.now()), FAST)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.pg", division="110105", office="OFF-A"))
    page = client.get(f"/cases/{case.number}")
    assert 'id="evidence-request"' in page.text
    form = {"csrf_token": csrf, "material": MATERIAL, "target_node": B, "id_number": WIFE}
    refused = client.post(f"/cases/{case.number}/evidence", data=form)  # the consent box not ticked
    assert refused.status_code == 409 and "同意" in refused.text
    assert count(a, EvidenceRequestRow) == 0
    sent = client.post(f"/cases/{case.number}/evidence", data={**form, "consent": "yes"})
    assert sent.status_code == 303, sent.text
    runner = ExchangeRunner([exchange_of(a), exchange_of(b)], EmbeddedTransport)
    runner.start()
    try:
        assert wait_until(lambda: count(a, LookedUpMaterialRow) == 1, 20)
    finally:
        runner.stop()
    page = client.get(f"/cases/{case.number}?lang=en")
    assert "测试乙" in page.text and "spouse" in page.text and 'data-state="received"' in page.text
