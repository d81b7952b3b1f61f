"""A window clerk in a real browser: signs in (password and second factor), accepts a case with its materials
checklist, finds it in the queue with its time left, requests a missing material (one-time notice), and reads
the case page with its history; in Chinese and in English."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot
from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest

pytestmark = pytest.mark.e2e

PASSWORD = "clerk-pass-2026"
FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
ENV = {
    "TONGBAN_SECRET_KEY": "e2e-cases-secret",
    "TONGBAN_ACCESS_COOKIE_SECURE": "false",
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
}

TEXTS = {
    "zh_CN": {
        "queue": "办件队列",
        "accept": "受理",
        "left": "剩余",
        "request": "一次性告知补正",
        "awaiting": "待补正材料",
        "waiting": "等待补正材料",
        "marriage": "结婚证",
        "history_accept": "已受理",
        "history_request": "已一次性告知补正材料",
        "notice": "一次性告知书",
        "login": "登录",
    },
    "en": {
        "queue": "Case queue",
        "accept": "Accept",
        "left": "left",
        "request": "Request materials",
        "awaiting": "awaiting materials",
        "waiting": "waiting for materials",
        "marriage": "Marriage certificate",
        "history_accept": "Accepted",
        "history_request": "Materials requested",
        "notice": "One-time notice of missing materials",
        "login": "Sign in",
    },
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市")])
    db = Database(f"sqlite:///{tmp_path / '110000.sqlite3'}")
    migrate.upgrade(db)
    now = datetime.now(UTC)
    clerk = service.add_user(
        db,
        settings=FAST,
        now=now,
        actor="e2e",
        login="zhou.clerk",
        role=Role.WINDOW_CLERK,
        display_name="周窗口",
        password=PASSWORD,
        division_code="110105",
        office_code="CY-01",
    )
    secret = service.start_totp_enrolment(db, user_id=clerk.id)
    service.check_totp(
        db, settings=FAST, user_id=clerk.id, code=credentials.totp_code(secret, now), now=now, actor="e2e"
    )
    (tmp_path / "clerk.totp").write_text(secret)
    db.dispose()
    srv = LiveServer(tmp_path, extra_env=ENV)
    yield srv
    srv.stop()


def sign_in(page: Page, server: LiveServer, lang: str) -> None:
    page.goto(f"{server.url}/cases/queue?lang={lang}")
    page.wait_for_url("**/access/sign-in?next=**")
    page.fill("#login", "zhou.clerk")
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/access/sign-in/totp**")
    secret = (server.data_dir / "clerk.totp").read_text()
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url("**/cases/queue**")


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_clerk_accepts_queues_requests_materials_and_reads_the_history(
    server: LiveServer, page: Page, lang: str
) -> None:
    tx = TEXTS[lang]
    sign_in(page, server, lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(tx["queue"])

    page.goto(f"{server.url}/cases/new?matter=MIG-SPOUSE")
    expect(page.locator("#checklist")).to_contain_text(tx["marriage"])
    page.fill("#id-number", "11010519491231002X")
    page.fill("#phone", "13800000000")
    for box in page.locator("#checklist input[type=checkbox]").all():
        box.check()
    screenshot(page, f"cases-accept-{lang}")
    page.locator("#accept-form button[type=submit]").click()
    page.wait_for_url("**/cases/110000-*")
    number = page.locator("#case-number").inner_text()
    expect(page.locator("#time-left")).to_contain_text(tx["left"])

    page.goto(f"{server.url}/cases/queue")
    row = page.locator(f"tr[data-case='{number}']")
    expect(row).to_be_visible()
    expect(row.locator(".time-left")).to_contain_text(tx["left"])
    expect(row.locator(".time-left")).to_have_attribute("data-urgency", "ok")
    screenshot(page, f"cases-queue-{lang}")

    row.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/cases/{number}")
    form = page.locator("#request-materials")
    form.get_by_label(tx["marriage"]).check()
    form.get_by_role("button", name=tx["request"]).click()
    page.wait_for_url(f"**/cases/{number}?done=request_materials")
    expect(page.locator("#case-state")).to_contain_text(tx["awaiting"])
    expect(page.locator("#time-left")).to_contain_text(tx["waiting"])
    expect(page.locator("#missing")).to_contain_text(tx["marriage"])
    history = page.locator("#history li")
    expect(history).to_have_count(2)
    expect(history.nth(0)).to_contain_text(tx["history_accept"])
    expect(history.nth(0).locator(".actor")).to_have_text("周窗口")
    expect(history.nth(1)).to_contain_text(tx["history_request"])
    screenshot(page, f"cases-case-{lang}")

    page.get_by_role("link", name=tx["notice"]).click()
    expect(page.locator("#notice-missing")).to_contain_text(tx["marriage"])
    expect(page.locator("#notice")).to_contain_text(number)
    screenshot(page, f"cases-notice-{lang}")
