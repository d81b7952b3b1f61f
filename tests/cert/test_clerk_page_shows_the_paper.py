"""The clerk at the accepting node sees the CERT case with where it went and the issued paper, downloads the
PDF (which verifies offline) and the JSON form; each download is audited; a clerk of another county gets 404;
a refused case shows the reason in the page's language."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from tests.access.helpers import FAST, Env, add, signed_in
from tests.cert.cert_support import CLERK, LONER, SUBJECT, A, B, applicant, make_three, start
from tests.exchange.exchange_support import wait_until

from tongban.access.domain import Role
from tongban.audit.tables import AuditRow
from tongban.cases.domain import CaseState
from tongban.cases.service import get_case
from tongban.cert.service import accept_certificate
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.exchange.service import exchange_of
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status
from tongban.papers.verify import verify
from tongban.web.app import Runtime, create_app


def test_the_clerk_page_shows_and_downloads_the_paper(
    database: Database, other_db: Database, locator_db: Database, tmp_path: Path
) -> None:
    nation = make_three(database, other_db, locator_db, tmp_path / "nation")
    a = nation.a
    runner = start([a, nation.b, nation.locator])
    try:
        issued = accept_certificate(a, actor=CLERK, applicant=applicant(SUBJECT), kind="kinship", purpose="x")
        refused = accept_certificate(a, actor=CLERK, applicant=applicant(LONER), kind="kinship", purpose="x")
        assert wait_until(
            lambda: all(
                get_case(a, number=n).state is CaseState.CLOSED for n in (issued.number, refused.number)
            ),
            20,
        )
    finally:
        runner.stop()
    runtime = Runtime(settings=a.settings, nodes={A: a}, extras={"access_settings": FAST})
    env = Env(database, a, runtime, create_app(runtime), FixedClock(a.clock.now()), FAST)
    client, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.cert", division="110105", office="OFF-A"))

    page = client.get(f"/cert/{issued.number}")
    assert page.status_code == 200, page.text
    assert "证明已出具" in page.text and "亲属关系证明" in page.text and 'id="paper-pdf"' in page.text
    pdf = client.get(f"/cert/{issued.number}/paper.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    verdict = verify(pdf.content, DirectoryKeyResolver(exchange_of(a).directory), None, a.clock.now())
    assert verdict.status is Status.VALID and verdict.paper is not None and verdict.paper.issuer == B
    js = client.get(f"/cert/{issued.number}/paper.json")
    assert js.status_code == 200 and b"tongban.signed-paper.v1" in js.content
    with database.session() as s:
        reads = list(s.scalars(select(AuditRow.seq).where(AuditRow.action == "cert.paper.read")))
        assert len(reads) == 2

    page = client.get(f"/cert/{refused.number}")
    assert page.status_code == 200 and "户籍登记中没有该亲属关系" in page.text
    assert client.get(f"/cert/{refused.number}/paper.pdf").status_code == 404
    page = client.get(f"/cert/{refused.number}?lang=en")
    assert "no such kinship is recorded in the household register" in page.text

    other, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.other", division="110108", office="OFF-B"))
    assert other.get(f"/cert/{issued.number}").status_code == 404
    assert other.get(f"/cert/{issued.number}/paper.pdf").status_code == 404
