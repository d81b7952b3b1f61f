"""A certificate across provinces in a real browser, in Chinese, against one node process each: Beijing
(accepts), Shanghai (keeps the register) and the national locator are each a ``tongban serve --node CODE --db
URL --nats URL`` process on a PostgreSQL database of its own, over a JetStream server of the test's own.

A clerk signs in at Beijing's pages and accepts a kinship certificate for a person registered in Shanghai; the
case routes through the locator's process to Shanghai's, which issues the paper automatically (or, where its
operators have every certificate reviewed, its reviewer does on the review page of Shanghai's process); the clerk
downloads the PDF; the citizen signs in to Beijing's portal and downloads it; both PDFs verify offline with
``tongban cert verify FILE --directory FILE``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from tests.cert.cert_support import SUBJECT, make_nation, make_node, populate
from tests.conftest import PgFactory, test_settings
from tests.e2e.cert_walk import (
    A,
    B,
    accept,
    add_citizen,
    add_staff,
    sign_in_citizen,
    sign_in_staff,
    verify_offline,
    wait_for_state,
)
from tests.e2e.conftest import screenshot
from tests.e2e.processes import NodeProcesses, node_processes, process_env, require_services
from tests.exchange.exchange_support import wait_until
from tongban.access.domain import Role
from tongban.access.tables import RecordView, User
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange import store
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.tables import InboxRow, OutboxRow

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.nats]


def _located(dbs: dict[str, Database]) -> bool:
    """Whether the locator's process applied every registration Shanghai reported."""
    with dbs[B].session() as s:
        sent = s.scalar(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.recipient == LOCATOR_CODE)
        )
    with dbs[LOCATOR_CODE].session() as s:
        applied = s.scalar(
            select(func.count()).select_from(InboxRow).where(InboxRow.state == store.IN_APPLIED)
        )
    return bool(sent) and (applied or 0) >= (sent or 0)


@pytest.fixture
def nation(
    request: pytest.FixtureRequest, tmp_path: Path, pg_factory: PgFactory | None
) -> Iterator[tuple[NodeProcesses, dict[str, Database]]]:
    review = request.param == "review"
    pg = require_services(pg_factory)
    data_dir = make_nation(tmp_path / "nation")
    settings = test_settings(data_dir)
    # Scratch databases, migrated, dropped at the end of the session.
    urls = {code: pg.new() for code in (LOCATOR_CODE, B, A)}
    dbs = {code: Database(url, settings) for code, url in urls.items()}
    # Shanghai's register; its changes wait in its outbox for the locator until its process runs.
    populate(make_node(B, dbs[B], data_dir))
    add_staff(dbs[A], "zhou.clerk", Role.WINDOW_CLERK, "110105", "OFF-A", tmp_path)
    add_staff(dbs[B], "wu.reviewer", Role.REVIEWER, "310104", "OFF-SH", tmp_path)
    add_citizen(dbs[A], NodeContext(code=A, name="北京市", db=dbs[A], settings=settings), SUBJECT)
    try:
        env = process_env({"TONGBAN_CERT_REVIEW_NODES": B} if review else None)
        for nodes in node_processes(tmp_path, data_dir, urls, env):
            assert wait_until(lambda: _located(dbs), 30), nodes.logs()
            yield nodes, dbs
    finally:
        for db in dbs.values():
            db.dispose()


@pytest.mark.parametrize("nation", ["automatic", "review"], indirect=True)
def test_a_certificate_between_node_processes_reaches_the_citizen(
    nation: tuple[NodeProcesses, dict[str, Database]],
    browser: Browser,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    nodes, dbs = nation
    mode = request.node.callspec.params["nation"]
    beijing = nodes.url(A)
    clerk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_staff(clerk, beijing, A, "zhou.clerk", tmp_path)
    # The process serves Beijing alone, named as the directory names it (as when served embedded).
    expect(clerk.locator(f"tr[data-node='{A}']")).to_contain_text("北京市")
    expect(clerk.locator(f"tr[data-node='{A}']")).to_contain_text("postgresql")
    number = accept(clerk, beijing, SUBJECT)

    if mode == "review":
        wait_for_state(clerk, f"{beijing}/cert/{number}", "sent")
        shanghai = nodes.url(B)
        reviewer = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        sign_in_staff(reviewer, shanghai, B, "wu.reviewer", tmp_path)
        reviewer.goto(f"{shanghai}/cert/review")
        row = reviewer.locator(f"tr[data-case='{number}']")
        expect(row).to_contain_text("亲属关系证明")
        expect(row.locator(".time-left")).to_contain_text("剩余")
        row.get_by_role("button", name="出具", exact=True).click()
        reviewer.wait_for_url("**/cert/review?done=issued")
        expect(reviewer.locator("#done")).to_contain_text("已出具")
        screenshot(reviewer, "cert-processes-review-zh")
        reviewer.context.close()

    try:
        wait_for_state(clerk, f"{beijing}/cert/{number}", "issued")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{nodes.logs()}") from exc
    expect(clerk.locator("#cert-state")).to_have_text("证明已出具")
    expect(clerk.locator("#paper-issuer")).to_have_text(f"上海市 ({B})")
    expect(clerk.locator("#recipient")).to_contain_text(B)
    screenshot(clerk, f"cert-processes-clerk-{mode}-zh")
    with clerk.expect_download() as dl:
        clerk.locator("#paper-pdf").click()
    clerk_pdf = tmp_path / "clerk.pdf"
    dl.value.save_as(clerk_pdf)
    assert clerk_pdf.read_bytes().startswith(b"%PDF")
    assert "亲属关系证明" in verify_offline(nodes.data_dir, clerk_pdf)
    clerk.context.close()

    citizen = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_citizen(citizen, beijing, SUBJECT)
    row = citizen.locator(f"tr[data-case='{number}']")
    expect(row).to_contain_text("证明已出具")
    row.get_by_role("link", name=number).click()
    citizen.wait_for_url(f"**/my/cases/{number}")
    expect(citizen.locator("#case-state")).to_contain_text("已办结")
    expect(citizen.locator("#paper-issuer")).to_have_text(f"上海市 ({B})")
    screenshot(citizen, f"cert-processes-citizen-{mode}-zh")
    with citizen.expect_download() as dl:
        citizen.locator("#my-paper-pdf").click()
    citizen_pdf = tmp_path / "citizen.pdf"
    dl.value.save_as(citizen_pdf)
    verify_offline(nodes.data_dir, citizen_pdf)
    citizen.context.close()

    # Shanghai's process read the register for Beijing's case and logged it with the case as the reason: on the
    # request, and again when its reviewer issued the paper.
    with dbs[B].session() as s:
        reviewer_id = s.scalar(select(User.id).where(User.login == "wu.reviewer"))
        views = [
            (v.viewer_id, v.reason, v.reason_ref)
            for v in s.scalars(select(RecordView).order_by(RecordView.id))
        ]
    expected = [(f"node:{A}", "case", f"{A}/{number}")]
    if mode == "review":
        assert views == [*expected, (str(reviewer_id), "case", f"{A}/{number}")]
    else:
        assert views == expected
