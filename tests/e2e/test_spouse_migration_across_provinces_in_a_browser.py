"""A spouse migration across two provinces in a real browser, in Chinese, against one ``tongban serve`` process
serving Beijing (the destination), Shanghai (the origin) and the national locator, embedded: from the
citizen's application to the move-in.

The citizen signs in at Beijing and applies online (the matter, her ID number, the sponsor's household, the
length of marriage, the marriage certificate uploaded, the signed commitment); Beijing's reviewer, in whose
county the online application lies, finds it, reads the uploaded material and the policy decision, and
approves (the move-in permit leaves); Shanghai's reviewer finds the move-out task in the queue with its
deadline, reads the permit and the person's status, and moves her out; the certificate comes back; the
reviewer registers the move-in into the sponsor's household (an online application has no office: its update
steps are the county reviewer's); the citizen sees the completed timeline and downloads the migration
certificate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.conftest import LiveServer, screenshot
from tests.migration.mig_support import BJ, SH, WIFE, make_node, populate_destination, populate_origin
from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.cases import window
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest
from tongban.exchange import directory_admin
from tongban.exchange.locator import LOCATOR_CODE

pytestmark = pytest.mark.e2e

PASSWORD = "mig-pass-2026"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a synthetic scan of the marriage certificate
FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
ENV = {
    "TONGBAN_ACCESS_COOKIE_SECURE": "false",
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    "TONGBAN_EXCHANGE_POLL_INTERVAL_S": "0.05",
}
NAMES = {BJ: "北京市", SH: "上海市", LOCATOR_CODE: "全国人口定位"}


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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(tmp_path, now=now)
    for code, name in NAMES.items():
        directory_admin.add_node(tmp_path, code=code, name=name, now=now)
    write_manifest(tmp_path, [NodeEntry(code, name) for code, name in NAMES.items()])
    dbs = {code: Database(f"sqlite:///{tmp_path / f'{code}.sqlite3'}") for code in NAMES}
    for db in dbs.values():
        migrate.upgrade(db)
    # The registers (their reports wait in the outboxes for the locator until the server runs).
    populate_origin(make_node(SH, dbs[SH], tmp_path))
    bj = make_node(BJ, dbs[BJ], tmp_path)
    populate_destination(bj, "110105")
    _staff(dbs[BJ], "li.reviewer", Role.REVIEWER, "110105", "OFF-BJ", tmp_path)
    _staff(dbs[SH], "wu.reviewer", Role.REVIEWER, "310104", "OFF-SH", tmp_path)
    service.add_user(
        dbs[BJ],
        settings=FAST,
        now=datetime.now(UTC),
        actor="e2e",
        login=credentials.citizen_login(TEST_SECRET_KEY.encode(), WIFE),
        role=Role.CITIZEN,
        display_name="测试乙",
        password=PASSWORD,
        person_ref=window.applicant_ref(bj, WIFE),
    )
    for db in dbs.values():
        db.dispose()
    srv = LiveServer(tmp_path, extra_env=ENV)
    yield srv
    srv.stop()


def new_page(browser: Browser) -> Page:
    return browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}).new_page()


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


def wait_for(page: Page, url: str, selector: str, attribute: str, value: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        found = page.locator(selector)
        if found.count() and found.first.get_attribute(attribute) == value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{url}: {selector} did not reach {attribute}={value}")
        time.sleep(0.3)


def test_a_spouse_moves_from_shanghai_to_beijing(
    server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    # The citizen applies online at Beijing, with the marriage certificate uploaded.
    citizen = new_page(browser)
    citizen.goto(f"{server.url}/access/sign-in?kind=citizen&next=/my/migrations&node={BJ}&lang=zh_CN")
    citizen.fill("#login", WIFE)
    citizen.fill("#password", PASSWORD)
    citizen.locator("form.stack button[type=submit]").click()
    citizen.wait_for_url("**/my/migrations")
    citizen.locator("#apply-online").click()
    citizen.wait_for_url("**/my/migrations/new")
    expect(citizen.get_by_role("heading", level=1)).to_have_text("网上申请户口迁移")
    expect(citizen.locator("#mig-matter")).to_have_text("夫妻投靠户口迁移")
    expect(citizen.locator("#uploads")).to_contain_text("结婚证")
    citizen.fill("#id-number", WIFE)
    citizen.fill("#name", "测试乙")
    citizen.fill("#phone", "13800000000")
    citizen.fill("#origin-address", "上海市徐汇区测试路1号")
    citizen.fill("#household", "D1")
    citizen.select_option("#relation", "spouse")
    citizen.fill("#fact-marriage_duration", "5y")
    citizen.set_input_files(
        "#file-marriage_certificate",
        files=[{"name": "marriage.png", "mimeType": "image/png", "buffer": PNG}],
    )
    citizen.check("#commitment")
    screenshot(citizen, "mig-apply-online-zh")
    citizen.locator("#my-mig-submit").click()
    citizen.wait_for_url(f"**/my/migrations/{BJ}-*?done=applied")
    number = citizen.locator("#case-number").inner_text()
    expect(citizen.locator("#done")).to_contain_text("已受理")
    expect(citizen.locator("#mig-state")).to_have_text("已受理，待审批")
    expect(citizen.locator("#uploaded li[data-material='marriage_certificate']")).to_contain_text("image/png")
    screenshot(citizen, "mig-applied-zh")

    # Beijing's reviewer (the county of the destination household): the online application, approved.
    reviewer = new_page(browser)
    sign_in_staff(reviewer, server, BJ, "li.reviewer")
    expect(reviewer.get_by_role("link", name="户口迁移", exact=True)).to_be_visible()
    reviewer.goto(f"{server.url}/migrations")
    reviewer.locator(f"tr[data-case='{number}']").get_by_role("link", name=number).click()
    reviewer.wait_for_url(f"**/migrations/{number}")
    expect(reviewer.locator("#online-badge")).to_have_text("网上申请")
    expect(reviewer.locator("#mig-origin")).to_have_text(SH)
    expect(reviewer.locator("#explanation")).to_have_attribute("data-eligible", "yes")
    expect(reviewer.locator("#uploaded li[data-material='marriage_certificate']")).to_contain_text("结婚证")
    expect(reviewer.locator("#time-left")).to_contain_text("剩余")
    screenshot(reviewer, "mig-online-review-zh")
    reviewer.locator("#approve").click()
    reviewer.wait_for_url(f"**/migrations/{number}?done=approve")
    expect(reviewer.locator("#mig-state")).to_have_text("准迁证已发往迁出地")
    expect(reviewer.locator("#papers li[data-paper='permit']")).to_contain_text("准迁证")

    # Shanghai's reviewer: the queue with the deadline, the permit and her status here, the move-out.
    origin = new_page(browser)
    sign_in_staff(origin, server, SH, "wu.reviewer")
    queue = f"{server.url}/migrations/origin/tasks"
    wait_for(origin, queue, f"tr[data-case='{number}']", "data-state", "received")
    row = origin.locator(f"tr[data-case='{number}']")
    expect(row).to_contain_text("夫妻投靠")
    expect(row.locator(".time-left")).to_contain_text("剩余")
    screenshot(origin, "mig-origin-queue-zh")
    row.get_by_role("link", name=number).click()
    origin.wait_for_url(f"**/migrations/origin/tasks/{number}")
    expect(origin.locator("#permit-name")).to_have_text("测试乙")
    expect(origin.locator("#registration")).to_have_text("在本地登记")
    screenshot(origin, "mig-origin-task-zh")
    origin.locator("#move-out").click()
    origin.wait_for_url(f"**/migrations/origin/tasks/{number}?done=move_out")
    expect(origin.locator("#task-state")).to_have_text("已迁出，迁移中")
    expect(origin.locator("#registration")).to_have_attribute("data-status", "in_transit")
    origin.context.close()

    # Beijing: the certificate is here; the reviewer registers the move-in into the sponsor's household.
    case_url = f"{server.url}/migrations/{number}"
    wait_for(reviewer, case_url, "#mig-state", "data-state", "certificate_received")
    expect(reviewer.locator("#cert-until")).to_be_visible()
    reviewer.select_option("#move-relation", "spouse")
    reviewer.locator("#register-move-in").click()
    reviewer.wait_for_url(f"**/migrations/{number}?done=move_in")
    expect(reviewer.locator("#mig-state")).to_have_text("已落户")
    expect(reviewer.locator("#mig-household")).to_have_text("D1")
    screenshot(reviewer, "mig-settled-zh")
    reviewer.context.close()

    # The citizen: the completed timeline and the migration certificate.
    citizen.goto(f"{server.url}/my/migrations")
    row = citizen.locator(f"tr[data-case='{number}']")
    expect(row).to_contain_text("已落户")
    row.get_by_role("link", name=number).click()
    citizen.wait_for_url(f"**/my/migrations/{number}")
    expect(citizen.locator("#mig-state")).to_have_text("已落户")
    expect(citizen.locator("#history li").first).to_contain_text("已受理")
    expect(citizen.locator("#history li[data-action='complete']")).to_have_count(1)
    expect(citizen.locator("#steps li")).to_have_count(4)
    expect(citizen.locator("#steps li[data-step='migration.certificate.receive']")).to_contain_text(
        "迁移证已送达"
    )
    screenshot(citizen, "mig-citizen-zh")
    with citizen.expect_download() as dl:
        citizen.locator("#my-certificate-pdf").click()
    pdf = tmp_path / "certificate.pdf"
    dl.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert citizen.goto(f"{server.url}/my/migrations/{BJ}-20000101-000001").status == 404
    citizen.context.close()
