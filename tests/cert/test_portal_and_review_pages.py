"""The citizen's portal lists their own cases only (state, time left, history), downloads their issued
paper (PDF in Chinese or English, verifying offline, and the JSON form) with the read logged; another
citizen's case is 404 and the attempt audited; a citizen requests a certificate online for themselves only.
The reviewer's page at the hukou node lists the requests in their jurisdiction and decides them, audited."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.access.helpers import FAST, Env, add, signed_in
from tests.cert.cert_support import (
    CLERK,
    SUBJECT,
    WIFE,
    B,
    applicant,
    make_three,
    request_row,
    start,
)
from tests.exchange.exchange_support import wait_until

from tongban.access import credentials, service
from tongban.access.accesslog import views_of_person
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.access.middleware import session_cookie_value
from tongban.access.web import view_buffer
from tongban.audit.tables import AuditRow
from tongban.cases import window
from tongban.cases.catalog import MatterCatalog
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.service import cases_setup, get_case
from tongban.cert.service import accept_certificate
from tongban.cert.tables import CertReviewRow
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.service import exchange_of
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify
from tongban.web.app import Runtime, create_app


def _env(node: NodeContext) -> Env:
    runtime = Runtime(settings=node.settings, nodes={node.code: node}, extras={"access_settings": FAST})
    return Env(node.db, node, runtime, create_app(runtime), FixedClock(node.clock.now()), FAST)


def _signed_in(env: Env, user: service.UserInfo) -> tuple[TestClient, str]:
    """``signed_in`` for the env's own node (the session cookie names its node)."""
    new = service.open_session(
        env.db, settings=env.settings, user_id=user.id, stage=service.STAGE_ACTIVE, now=env.clock.now()
    )
    client = TestClient(env.app, follow_redirects=False)
    client.cookies.set(env.settings.session_cookie, session_cookie_value(env.node.code, new.token))
    return client, new.csrf_token


def _citizen(env: Env, id_number: str) -> service.UserInfo:
    """A citizen's account at the accepting node: login = the keyed digest of their ID number."""
    login = credentials.citizen_login(app_secret(env.node.settings), id_number)
    user = add(env, Role.CITIZEN, login, person=window.applicant_ref(env.node, id_number))
    return user


def _closed(node: NodeContext, number: str) -> bool:
    return get_case(node, number=number).state is CaseState.CLOSED


def test_the_applicant_reference_is_the_head_of_the_citizens_login(
    tmp_path: Path, database: Database
) -> None:
    from tests.access.helpers import make_env

    env = make_env(database, tmp_path)
    for id_number in (SUBJECT, WIFE, "11010519491231002X"):
        login = credentials.citizen_login(app_secret(env.node.settings), id_number)
        assert login[:44] == window.applicant_ref(env.node, id_number)


def test_a_citizen_sees_and_downloads_only_their_own_cases(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    a = nation.a
    runner = start([a, nation.b, nation.locator])
    try:
        mine = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")
        refused = accept_certificate(
            a, actor=CLERK, applicant=applicant(SUBJECT), kind="cancellation", purpose="x"
        )
        theirs = accept_certificate(a, actor=CLERK, applicant=applicant(WIFE), kind="kinship", purpose="x")
        numbers = (mine.number, refused.number, theirs.number)
        assert wait_until(lambda: all(_closed(a, n) for n in numbers), 30)

        env = _env(a)
        me, _ = signed_in(env, _citizen(env, SUBJECT))
        page = me.get("/my/cases")
        assert page.status_code == 200, page.text
        assert mine.number in page.text and refused.number in page.text and theirs.number not in page.text
        assert (
            "户籍类证明开具" in page.text and "没有注销户口的记录" in page.text
        )  # matter name, refusal reason

        case_page = me.get(f"/my/cases/{mine.number}")
        assert case_page.status_code == 200 and 'id="my-paper-pdf"' in case_page.text
        assert "已受理" in case_page.text and "办理记录" in case_page.text  # the history, in Chinese
        assert "Kinship certificate" in me.get(f"/my/cases/{mine.number}?lang=en").text
        pdf = me.get(f"/my/cases/{mine.number}/paper.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        verdict = verify(pdf.content, DirectoryKeyResolver(exchange_of(a).directory), None, a.clock.now())
        assert verdict.status is Status.VALID and verdict.paper is not None and verdict.paper.issuer == B
        assert me.get(f"/my/cases/{mine.number}/paper.pdf?lang=en").status_code == 200
        js = me.get(f"/my/cases/{mine.number}/paper.json")
        assert js.status_code == 200 and b"tongban.signed-paper.v1" in js.content
        assert me.get(f"/my/cases/{refused.number}/paper.pdf").status_code == 404  # nothing issued

        # Another citizen's case: the same 404 as no case at all, and the attempt is audited.
        for path in (f"/my/cases/{theirs.number}", f"/my/cases/{theirs.number}/paper.pdf", "/my/cases/nope"):
            assert me.get(path).status_code == 404
        # Staff do not own cases: the portal lists none for them.
        clerk, _ = signed_in(
            env, add(env, Role.WINDOW_CLERK, "clerk.portal", division="110105", office="OFF-A")
        )
        listing = clerk.get("/my/cases")
        assert listing.status_code == 200 and mine.number not in listing.text
        assert clerk.get(f"/my/cases/{mine.number}").status_code == 404
    finally:
        runner.stop()

    view_buffer(a).flush()
    with a.db.session() as s:
        denied = list(s.scalars(select(AuditRow.object_id).where(AuditRow.action == "cert.portal.denied")))
        assert sorted(denied) == sorted([theirs.number, theirs.number, "nope", mine.number])
        reads = list(s.scalars(select(AuditRow.object_id).where(AuditRow.action == "cert.paper.read")))
        assert reads.count(mine.number) == 3
    views = views_of_person(a.db, person_ref=window.applicant_ref(a, SUBJECT))
    assert {v.reason for v in views} == {"own"} and len(views) >= 5
    assert not views_of_person(a.db, person_ref=window.applicant_ref(a, WIFE))


def test_a_citizen_requests_a_certificate_online_for_themselves(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    a = nation.a
    runner = start([a, nation.b, nation.locator])
    try:
        env = _env(a)
        me, csrf = signed_in(env, _citizen(env, SUBJECT))
        form = {"csrf_token": csrf, "kind": "kinship", "id_number": SUBJECT, "purpose": "探亲", "phone": ""}
        refused = me.post("/my/cert/new", data=form)  # consent not given
        assert refused.status_code == 422 and "同意" in refused.text
        other = me.post("/my/cert/new", data={**form, "consent": "yes", "id_number": WIFE})
        assert other.status_code == 422 and "本人" in other.text
        done = me.post("/my/cert/new", data={**form, "consent": "yes"})
        assert done.status_code == 303, done.text
        number = done.headers["location"].split("/")[3].split("?")[0]
        assert wait_until(lambda: _closed(a, number), 30)
        case = get_case(a, number=number)
        assert (case.procedure, case.accepting_office, case.close_reason) == (
            "online",
            "online",
            CloseReason.COMPLETED,
        )
        assert me.get(f"/my/cases/{number}/paper.pdf").status_code == 200
    finally:
        runner.stop()
    with a.db.session() as s:
        from tongban.cases.tables import ConsentRow

        assert list(s.scalars(select(ConsentRow.channel))) == ["online"]


def test_the_reviewer_page_decides_requests_in_its_jurisdiction(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    a, b = nation.a, nation.b
    setup = cases_setup(b)
    cert = setup.catalog.get("CERT").model_copy(update={"allows_automatic": False})
    b.services["cases"] = dataclasses.replace(
        setup, catalog=MatterCatalog({**setup.catalog.matters, "CERT": cert})
    )
    runner = start([a, b, nation.locator])
    try:
        first = accept_certificate(
            a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="继承"
        )
        second = accept_certificate(a, actor=CLERK, applicant=applicant(WIFE), kind="kinship", purpose="x")

        def waiting() -> int:
            with b.db.session() as s:
                return len(list(s.scalars(select(CertReviewRow.id))))

        assert wait_until(lambda: waiting() == 2, 30)
        env = _env(b)
        reviewer, csrf = _signed_in(
            env, add(env, Role.REVIEWER, "rev.sh", division="310104", office="OFF-SH")
        )
        page = reviewer.get("/cert/review")
        assert page.status_code == 200 and first.number in page.text and second.number in page.text
        assert SUBJECT not in page.text and "亲属关系证明" in page.text  # masked ID numbers only
        outsider, csrf_o = _signed_in(
            env, add(env, Role.REVIEWER, "rev.other", division="310115", office="OFF-PD")
        )
        assert first.number not in outsider.get("/cert/review").text  # another county
        with b.db.session() as s:
            ids = {r.case_ref: r.id for r in s.scalars(select(CertReviewRow))}
        assert (
            outsider.post(
                f"/cert/review/{ids[first.number]}", data={"csrf_token": csrf_o, "decision": "issue"}
            ).status_code
            == 404
        )
        bad = reviewer.post(
            f"/cert/review/{ids[second.number]}",
            data={"csrf_token": csrf, "decision": "refuse", "reason": "not-located"},
        )
        assert bad.status_code == 422
        issued = reviewer.post(
            f"/cert/review/{ids[first.number]}", data={"csrf_token": csrf, "decision": "issue"}
        )
        assert issued.status_code == 303
        refused = reviewer.post(
            f"/cert/review/{ids[second.number]}",
            data={"csrf_token": csrf, "decision": "refuse", "reason": "no-kinship"},
        )
        assert refused.status_code == 303
        assert wait_until(lambda: _closed(a, first.number) and _closed(a, second.number), 30)
        assert "暂无待审核的申请" in reviewer.get("/cert/review").text
    finally:
        runner.stop()
    assert get_case(a, number=first.number).close_reason is CloseReason.COMPLETED
    row = request_row(a, second.number)
    assert row is not None and (row.state, row.reason) == ("refused", "no-kinship")
    with b.db.session() as s:
        decided = list(s.scalars(select(AuditRow.actor).where(AuditRow.action == "cert.review.decide")))
        assert len(decided) == 2 and all(x.isdigit() for x in decided)
