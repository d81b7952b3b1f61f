"""Access pages in a real browser: sign-in with second-factor enrolment, user administration,
access-record review, and "who viewed my record"; in Chinese by default and in English."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot
from tongban.access import credentials, service
from tongban.access.accesslog import ViewBuffer
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest

pytestmark = pytest.mark.e2e

SECRET = "e2e-secret-key"
PASSWORD = "browser-pass-2026"
FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
ENV = {
    "TONGBAN_SECRET_KEY": SECRET,
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    "TONGBAN_ACCESS_VIEW_FLUSH_INTERVAL_S": "0.2",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市")])
    db = Database(f"sqlite:///{tmp_path / '110000.sqlite3'}")
    migrate.upgrade(db)
    now = datetime.now(UTC)

    def add(login: str, role: Role, **kw: str) -> service.UserInfo:
        return service.add_user(
            db,
            settings=FAST,
            now=now,
            actor="e2e",
            login=login,
            role=role,
            display_name=kw.pop("name"),
            password=PASSWORD,
            **kw,
        )

    add("admin.bj", Role.PROVINCIAL_ADMIN, name="省管理员", division_code="110000", office_code="BJ-GA")
    clerk = add("zhao.clerk", Role.WINDOW_CLERK, name="赵窗口", division_code="110105", office_code="CY-01")
    supervisor = add(
        "qian.sup", Role.COUNTY_SUPERVISOR, name="钱监督", division_code="110105", office_code="CY-JD"
    )
    add(
        credentials.citizen_login(SECRET.encode(), "11010519491231002X"),
        Role.CITIZEN,
        name="张三",
        person_ref="p-1",
    )
    # The supervisor enrolled a second factor earlier.
    secret = service.start_totp_enrolment(db, user_id=supervisor.id, key=SECRET.encode())
    service.check_totp(
        db,
        settings=FAST,
        key=SECRET.encode(),
        user_id=supervisor.id,
        code=credentials.totp_code(secret, now),
        now=now,
        actor="e2e",
    )
    (tmp_path / "sup.totp").write_text(secret)
    buf = ViewBuffer(db, SystemClock())
    buf.record(
        clerk.principal("110000"),
        person_ref="p-1",
        person_division="110105",
        reason="case",
        reason_ref="TB-2026-000123",
        action="registry.person.read",
    )
    buf.flush()
    db.dispose()
    srv = LiveServer(tmp_path, extra_env=ENV)
    yield srv
    srv.stop()


def sign_in(page: Page, server: LiveServer, login: str, *, citizen: bool = False, target: str = "/") -> None:
    page.goto(server.url + target)
    if citizen:
        page.get_by_role("link", name="群众").click()
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()


def test_admin_enrols_a_second_factor_and_adds_a_clerk(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/access/users")
    page.wait_for_url("**/access/sign-in?next=**")
    expect(page.get_by_role("heading", level=1)).to_have_text("登录")
    screenshot(page, "access-sign-in-zh-CN")
    page.fill("#login", "admin.bj")
    page.fill("#password", "wrong-password-1")
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator("#sign-in-error")).to_contain_text("登录名或密码错误")
    page.fill("#login", "admin.bj")
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/access/sign-in/enrol**")
    expect(page.get_by_role("heading", level=1)).to_have_text("绑定第二重验证")
    expect(page.locator("figure.qr svg")).to_be_visible()
    screenshot(page, "access-enrol-zh-CN")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    # The QR code as the browser drew it decodes to the same key.
    png = page.locator("figure.qr").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert decoded and decoded[0].text.startswith("otpauth://totp/") and f"secret={secret}" in decoded[0].text
    page.fill("#code", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="确认").click()
    page.wait_for_url("**/access/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("用户管理")
    expect(page.locator("tr[data-user='zhao.clerk']")).to_contain_text("窗口受理人员")
    expect(page.locator("header .user")).to_have_text("省管理员")

    page.fill("#new-login", "sun.reviewer")
    page.fill("#new-name", "孙审核")
    page.select_option("#new-role", "reviewer")
    page.fill("#new-division", "110108")
    page.fill("#new-office", "HD-01")
    page.fill("#new-password", "reviewer-pass-1")
    page.get_by_role("button", name="创建账号").click()
    expect(page.get_by_role("status")).to_contain_text("账号已创建")
    row = page.locator("tr[data-user='sun.reviewer']")
    expect(row).to_contain_text("审核人员")
    expect(row).to_contain_text("未绑定第二重验证")
    screenshot(page, "access-users-zh-CN")

    row.get_by_role("button", name="停用").click()
    expect(page.get_by_role("status")).to_contain_text("账号已停用")
    expect(page.locator("tr[data-user='sun.reviewer']")).to_contain_text("已停用")

    page.goto(server.url + "/access/users?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("User administration")
    screenshot(page, "access-users-en")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/access/sign-in")
    page.goto(server.url + "/access/users")
    page.wait_for_url("**/access/sign-in?next=**")


def test_supervisor_reviews_access_records_with_the_code(server: LiveServer, page: Page) -> None:
    sign_in(page, server, "qian.sup", target="/access/views")
    page.wait_for_url("**/access/sign-in/totp**")
    secret = (server.data_dir / "sup.totp").read_text()
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1))
    page.get_by_role("button", name="确认").click()
    page.wait_for_url("**/access/views")
    expect(page.get_by_role("heading", level=1)).to_have_text("查询记录")
    expect(page.locator("a.access-link")).to_have_text(["用户管理", "查询记录"])
    rows = page.locator("#views tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("赵窗口")
    expect(rows.first).to_contain_text("TB-2026-000123")
    expect(rows.first).to_contain_text("办件")
    screenshot(page, "access-views-zh-CN")
    page.goto(server.url + "/access/users")
    expect(page.locator("#users tbody tr")).to_have_count(2)  # the county's own accounts only


def test_citizen_sees_who_viewed_their_record(server: LiveServer, page: Page) -> None:
    sign_in(page, server, "11010519491231002X", citizen=True, target="/access/my-views")
    page.wait_for_url("**/access/my-views")
    expect(page.get_by_role("heading", level=1)).to_have_text("谁查看了我的档案")
    expect(page.locator("a.access-link")).to_have_text(["谁查看了我的档案"])  # a citizen's only access page
    row = page.locator("#my-views tbody tr").first
    expect(row).to_contain_text("窗口受理人员")
    expect(row).to_contain_text("CY-01")
    expect(row).to_contain_text("TB-2026-000123")
    expect(page.locator("body")).not_to_contain_text("赵窗口")  # the office and role, not the clerk's name
    screenshot(page, "access-my-views-zh-CN")
    page.goto(server.url + "/access/my-views?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Who viewed my record")
    screenshot(page, "access-my-views-en")
    response = page.goto(server.url + "/access/users")
    assert response is not None and response.status == 403
