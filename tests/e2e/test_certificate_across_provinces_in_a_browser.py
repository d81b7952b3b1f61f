"""A certificate across provinces in a real browser, in Chinese, against one ``tongban serve`` process serving
Beijing (accepts), Shanghai (keeps the register) and the national locator, embedded.

A clerk in Beijing accepts a kinship certificate for a person registered in Shanghai; the case routes through
the locator; Shanghai issues it (automatically, or through its reviewer's page where its operators have every
certificate reviewed); the clerk downloads the PDF; the citizen signs in to the portal, sees the case and
downloads the PDF; both PDFs verify offline with ``tongban cert verify FILE --directory FILE``. A refusal
reaches the citizen in Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.cert.cert_support import LONER, SUBJECT, make_node, populate
from tests.conftest import test_settings
from tests.e2e.cert_walk import (
    ENV,
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
from tests.e2e.conftest import LiveServer, screenshot
from tongban.access.domain import Role
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import NodeContext, NodeEntry, write_manifest
from tongban.exchange import directory_admin
from tongban.exchange.locator import LOCATOR_CODE

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    mode = str(request.param)
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(tmp_path, now=now)
    for code, name in ((A, "北京市"), (B, "上海市"), (LOCATOR_CODE, "全国人口定位")):
        directory_admin.add_node(tmp_path, code=code, name=name, now=now)
    write_manifest(
        tmp_path, [NodeEntry(A, "北京市"), NodeEntry(B, "上海市"), NodeEntry(LOCATOR_CODE, "全国人口定位")]
    )
    dbs = {code: Database(f"sqlite:///{tmp_path / f'{code}.sqlite3'}") for code in (A, B, LOCATOR_CODE)}
    for db in dbs.values():
        migrate.upgrade(db)
    # Shanghai's register (its changes wait in its outbox for the locator until the server runs).
    populate(make_node(B, dbs[B], tmp_path))
    add_staff(dbs[A], "zhou.clerk", Role.WINDOW_CLERK, "110105", "OFF-A", tmp_path)
    add_staff(dbs[B], "wu.reviewer", Role.REVIEWER, "310104", "OFF-SH", tmp_path)
    a = NodeContext(code=A, name="北京市", db=dbs[A], settings=test_settings(tmp_path))
    add_citizen(dbs[A], a, SUBJECT)
    add_citizen(dbs[A], a, LONER)
    for db in dbs.values():
        db.dispose()
    env = {**ENV, **({"TONGBAN_CERT_REVIEW_NODES": B} if mode == "review" else {})}
    srv = LiveServer(tmp_path, extra_env=env)
    yield srv, mode
    srv.stop()


@pytest.mark.parametrize("server", ["automatic", "review"], indirect=True)
def test_a_certificate_travels_from_shanghai_to_a_citizen_in_beijing(
    server: tuple[LiveServer, str], browser: Browser, tmp_path: Path
) -> None:
    srv, mode = server
    clerk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_staff(clerk, srv.url, A, "zhou.clerk", srv.data_dir)
    number = accept(clerk, srv.url, SUBJECT)
    case_url = f"{srv.url}/cert/{number}"

    if mode == "review":
        wait_for_state(clerk, case_url, "sent")
        expect(clerk.locator("#recipient")).to_contain_text(B)
        reviewer = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        sign_in_staff(reviewer, srv.url, B, "wu.reviewer", srv.data_dir)
        reviewer.goto(f"{srv.url}/cert/review")
        row = reviewer.locator(f"tr[data-case='{number}']")
        expect(row).to_contain_text("亲属关系证明")
        expect(row.locator(".time-left")).to_contain_text("剩余")
        screenshot(reviewer, "cert-review-zh")
        row.get_by_role("button", name="出具", exact=True).click()
        reviewer.wait_for_url("**/cert/review?done=issued")
        expect(reviewer.locator("#done")).to_contain_text("已出具")
        reviewer.context.close()

    wait_for_state(clerk, case_url, "issued")
    expect(clerk.locator("#cert-state")).to_have_text("证明已出具")
    expect(clerk.locator("#paper-issuer")).to_have_text(f"上海市 ({B})")
    expect(clerk.locator("#recipient")).to_contain_text(f"{B} (全国户籍定位服务)")
    screenshot(clerk, f"cert-clerk-{mode}-zh")
    with clerk.expect_download() as dl:
        clerk.locator("#paper-pdf").click()
    clerk_pdf = tmp_path / "clerk.pdf"
    dl.value.save_as(clerk_pdf)
    assert clerk_pdf.read_bytes().startswith(b"%PDF")
    out = verify_offline(srv.data_dir, clerk_pdf)
    assert "亲属关系证明" in out
    clerk.context.close()

    citizen = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_citizen(citizen, srv.url, SUBJECT)
    row = citizen.locator(f"tr[data-case='{number}']")
    expect(row).to_contain_text("户籍类证明开具")
    expect(row).to_contain_text("证明已出具")
    row.get_by_role("link", name=number).click()
    citizen.wait_for_url(f"**/my/cases/{number}")
    expect(citizen.locator("#case-state")).to_contain_text("已办结")
    expect(citizen.locator("#paper-issuer")).to_have_text(f"上海市 ({B})")
    expect(citizen.locator("#history li").first).to_contain_text("已受理")
    screenshot(citizen, f"cert-citizen-{mode}-zh")
    with citizen.expect_download() as dl:
        citizen.locator("#my-paper-pdf").click()
    citizen_pdf = tmp_path / "citizen.pdf"
    dl.value.save_as(citizen_pdf)
    verify_offline(srv.data_dir, citizen_pdf)
    # Another person's case is not there for this citizen.
    assert citizen.goto(f"{srv.url}/my/cases/{number}x").status == 404
    citizen.context.close()


@pytest.mark.parametrize("server", ["automatic"], indirect=True)
def test_a_refusal_reaches_the_citizen_in_chinese(server: tuple[LiveServer, str], browser: Browser) -> None:
    srv, _ = server
    clerk = browser.new_context(locale="zh-CN").new_page()
    sign_in_staff(clerk, srv.url, A, "zhou.clerk", srv.data_dir)
    number = accept(clerk, srv.url, LONER)  # alone in his household: no kinship to certify
    wait_for_state(clerk, f"{srv.url}/cert/{number}", "refused")
    clerk.context.close()
    citizen = browser.new_context(locale="zh-CN").new_page()
    sign_in_citizen(citizen, srv.url, LONER)
    citizen.goto(f"{srv.url}/my/cases/{number}")
    expect(citizen.locator("#refusal")).to_have_text("户籍登记中没有该亲属关系")
    expect(citizen.locator("#case-state")).to_contain_text("不予")
    screenshot(citizen, "cert-citizen-refused-zh")
    citizen.context.close()
