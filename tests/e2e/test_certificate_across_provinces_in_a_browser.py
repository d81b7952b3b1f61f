"""A certificate across provinces in a real browser, in Chinese, against one ``tongban serve`` process serving
Beijing (accepts), Shanghai (keeps the register) and the national locator, embedded.

A clerk in Beijing accepts a kinship certificate for a person registered in Shanghai; the case routes through
the locator; Shanghai issues it (automatically, or through its reviewer's page where its operators have every
certificate reviewed); the clerk downloads the PDF; the citizen signs in to the portal, sees the case and
downloads the PDF; both PDFs verify offline with ``tongban cert verify FILE --directory FILE``. A refusal
reaches the citizen in Chinese."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.cert.cert_support import LONER, SUBJECT, make_node, populate
from tests.conftest import TEST_SECRET_KEY, test_settings
from tests.e2e.conftest import LiveServer, screenshot
from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.cases import window
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import NodeContext, NodeEntry, write_manifest
from tongban.exchange import directory_admin
from tongban.exchange.directory import DIRECTORY_FILE
from tongban.exchange.locator import LOCATOR_CODE

pytestmark = pytest.mark.e2e

A, B = "110000", "310000"
PASSWORD = "cert-pass-2026"
FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
ENV = {
    "TONGBAN_ACCESS_COOKIE_SECURE": "false",
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    "TONGBAN_EXCHANGE_POLL_INTERVAL_S": "0.05",
}


def _staff(db: Database, login: str, role: Role, division: str, office: str, data_dir: Path) -> None:
    now = datetime.now(UTC)
    user = service.add_user(
        db,
        settings=FAST,
        now=now,
        actor="e2e",
        login=login,
        role=role,
        display_name=login,
        password=PASSWORD,
        division_code=division,
        office_code=office,
    )
    key = TEST_SECRET_KEY.encode()
    secret = service.start_totp_enrolment(db, user_id=user.id, key=key)
    service.check_totp(
        db,
        settings=FAST,
        key=key,
        user_id=user.id,
        code=credentials.totp_code(secret, now),
        now=now,
        actor="e2e",
    )
    (data_dir / f"{login}.totp").write_text(secret)


def _citizen(db: Database, node: NodeContext, id_number: str) -> None:
    service.add_user(
        db,
        settings=FAST,
        now=datetime.now(UTC),
        actor="e2e",
        login=credentials.citizen_login(TEST_SECRET_KEY.encode(), id_number),
        role=Role.CITIZEN,
        display_name="测试市民",
        password=PASSWORD,
        person_ref=window.applicant_ref(node, id_number),
    )


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
    _staff(dbs[A], "zhou.clerk", Role.WINDOW_CLERK, "110105", "OFF-A", tmp_path)
    _staff(dbs[B], "wu.reviewer", Role.REVIEWER, "310104", "OFF-SH", tmp_path)
    a = NodeContext(code=A, name="北京市", db=dbs[A], settings=test_settings(tmp_path))
    _citizen(dbs[A], a, SUBJECT)
    _citizen(dbs[A], a, LONER)
    for db in dbs.values():
        db.dispose()
    env = {**ENV, **({"TONGBAN_CERT_REVIEW_NODES": B} if mode == "review" else {})}
    srv = LiveServer(tmp_path, extra_env=env)
    yield srv, mode
    srv.stop()


def sign_in_staff(page: Page, server: LiveServer, node: str, login: str) -> None:
    page.goto(f"{server.url}/access/sign-in?node={node}&lang=zh_CN")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/access/sign-in/totp**")
    secret = (server.data_dir / f"{login}.totp").read_text()
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{server.url}/")


def sign_in_citizen(page: Page, server: LiveServer, id_number: str) -> None:
    page.goto(f"{server.url}/access/sign-in?kind=citizen&next=/my/cases&node={A}&lang=zh_CN")
    page.fill("#login", id_number)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/my/cases")


def wait_for_state(page: Page, url: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if page.locator("#cert-state").get_attribute("data-state") == state:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not reach {state}: {page.locator('#cert-state').inner_text()}")
        time.sleep(0.3)


def accept(page: Page, server: LiveServer, id_number: str) -> str:
    page.goto(f"{server.url}/cert/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("受理开具证明")
    page.select_option("#kind", "kinship")
    page.fill("#id-number", id_number)
    page.fill("#purpose", "办理继承公证")
    page.fill("#phone", "13800000000")
    page.locator("#cert-accept").click()
    page.wait_for_url("**/cert/110000-*?done=accepted")
    expect(page.locator("#accepted")).to_contain_text("全国人口定位")
    return page.locator("#case-number").inner_text()


def verify_offline(server: LiveServer, pdf: Path) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tongban",
            "cert",
            "verify",
            str(pdf),
            "--directory",
            str(server.data_dir / DIRECTORY_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.parametrize("server", ["automatic", "review"], indirect=True)
def test_a_certificate_travels_from_shanghai_to_a_citizen_in_beijing(
    server: tuple[LiveServer, str], browser: Browser, tmp_path: Path
) -> None:
    srv, mode = server
    clerk = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_staff(clerk, srv, A, "zhou.clerk")
    number = accept(clerk, srv, SUBJECT)
    case_url = f"{srv.url}/cert/{number}"

    if mode == "review":
        wait_for_state(clerk, case_url, "sent")
        expect(clerk.locator("#recipient")).to_contain_text(B)
        reviewer = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
        sign_in_staff(reviewer, srv, B, "wu.reviewer")
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
    expect(clerk.locator("#recipient")).to_contain_text(f"{B} (全国户籍定位服务)")
    screenshot(clerk, f"cert-clerk-{mode}-zh")
    with clerk.expect_download() as dl:
        clerk.locator("#paper-pdf").click()
    clerk_pdf = tmp_path / "clerk.pdf"
    dl.value.save_as(clerk_pdf)
    assert clerk_pdf.read_bytes().startswith(b"%PDF")
    out = verify_offline(srv, clerk_pdf)
    assert "亲属关系证明" in out
    clerk.context.close()

    citizen = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()
    sign_in_citizen(citizen, srv, SUBJECT)
    row = citizen.locator(f"tr[data-case='{number}']")
    expect(row).to_contain_text("户籍类证明开具")
    expect(row).to_contain_text("证明已出具")
    row.get_by_role("link", name=number).click()
    citizen.wait_for_url(f"**/my/cases/{number}")
    expect(citizen.locator("#case-state")).to_contain_text("已办结")
    expect(citizen.locator("#history li").first).to_contain_text("已受理")
    screenshot(citizen, f"cert-citizen-{mode}-zh")
    with citizen.expect_download() as dl:
        citizen.locator("#my-paper-pdf").click()
    citizen_pdf = tmp_path / "citizen.pdf"
    dl.value.save_as(citizen_pdf)
    verify_offline(srv, citizen_pdf)
    # Another person's case is not there for this citizen.
    assert citizen.goto(f"{srv.url}/my/cases/{number}x").status == 404
    citizen.context.close()


@pytest.mark.parametrize("server", ["automatic"], indirect=True)
def test_a_refusal_reaches_the_citizen_in_chinese(server: tuple[LiveServer, str], browser: Browser) -> None:
    srv, _ = server
    clerk = browser.new_context(locale="zh-CN").new_page()
    sign_in_staff(clerk, srv, A, "zhou.clerk")
    number = accept(clerk, srv, LONER)  # alone in his household: no kinship to certify
    wait_for_state(clerk, f"{srv.url}/cert/{number}", "refused")
    clerk.context.close()
    citizen = browser.new_context(locale="zh-CN").new_page()
    sign_in_citizen(citizen, srv, LONER)
    citizen.goto(f"{srv.url}/my/cases/{number}")
    expect(citizen.locator("#refusal")).to_have_text("户籍登记中没有该亲属关系")
    expect(citizen.locator("#case-state")).to_contain_text("不予")
    screenshot(citizen, "cert-citizen-refused-zh")
    citizen.context.close()
