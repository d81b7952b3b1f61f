"""What the CERT browser walk-throughs share, whether the nodes run in one embedded process or one process
each: the accounts (created through the access service with the test's node secret), signing in in Chinese
with the second factor, the clerk's acceptance, waiting for the certificate's state, and the offline check of
a downloaded PDF with ``tongban cert verify``."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from tests.conftest import TEST_SECRET_KEY
from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.cases import window
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange.directory import DIRECTORY_FILE

A, B = "110000", "310000"
PASSWORD = "cert-pass-2026"
FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)
# The environment of the served processes: plain-HTTP cookies, cheap password hashing (as ``FAST``), a quick
# exchange.
ENV = {
    "TONGBAN_ACCESS_COOKIE_SECURE": "false",
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    "TONGBAN_EXCHANGE_POLL_INTERVAL_S": "0.05",
}


def add_staff(db: Database, login: str, role: Role, division: str, office: str, secrets_dir: Path) -> None:
    """A staff account with its second factor enrolled; the TOTP secret is kept in ``secrets_dir``."""
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
    (secrets_dir / f"{login}.totp").write_text(secret)


def add_citizen(db: Database, node: NodeContext, id_number: str) -> None:
    """A citizen's account at ``node``, signed in with the ID number."""
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


def sign_in_staff(page: Page, base: str, node: str, login: str, secrets_dir: Path) -> None:
    page.goto(f"{base}/access/sign-in?node={node}&lang=zh_CN")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    page.wait_for_url("**/access/sign-in/totp**")
    secret = (secrets_dir / f"{login}.totp").read_text()
    page.fill("#code", pyotp.TOTP(secret).at(datetime.now(UTC), counter_offset=1))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(f"{base}/")


def sign_in_citizen(page: Page, base: str, id_number: str) -> None:
    page.goto(f"{base}/access/sign-in?kind=citizen&next=/my/cases&node={A}&lang=zh_CN")
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


def accept(page: Page, base: str, id_number: str) -> str:
    """The clerk accepts a kinship certificate at ``base``; the case number."""
    page.goto(f"{base}/cert/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("受理开具证明")
    page.select_option("#kind", "kinship")
    page.fill("#id-number", id_number)
    page.fill("#purpose", "办理继承公证")
    page.fill("#phone", "13800000000")
    page.locator("#cert-accept").click()
    page.wait_for_url(f"**/cert/{A}-*?done=accepted")
    expect(page.locator("#accepted")).to_contain_text("全国人口定位")
    return page.locator("#case-number").inner_text()


def verify_offline(data_dir: Path, pdf: Path) -> str:
    """``tongban cert verify PDF --directory`` in a process of its own; its output (exit 0 asserted)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tongban",
            "cert",
            "verify",
            str(pdf),
            "--directory",
            str(data_dir / DIRECTORY_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
