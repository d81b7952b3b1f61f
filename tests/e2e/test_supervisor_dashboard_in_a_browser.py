"""The demo county supervisor of a generated nation signs in, sees the dashboard's charts over the demo cases,
opens a chart's figures as a table, and switches the period without a page reload (htmx), in Chinese.

Runs against a real ``tongban serve`` in Debian's Chromium; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import test_settings
from tests.e2e.conftest import LiveServer, screenshot
from tongban.access.domain import Role
from tongban.nation.build import build_nation
from tongban.nation.demo import DemoAccount, current_code, read_demo_file

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def nation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("nation")
    build_nation(test_settings(data_dir), ["110000"], people=300, seed=2026)
    return data_dir


@pytest.fixture(scope="module")
def server(nation_dir: Path) -> Iterator[LiveServer]:
    srv = LiveServer(nation_dir)
    yield srv
    srv.stop()


def _supervisor(nation_dir: Path) -> DemoAccount:
    return next(iter(read_demo_file(nation_dir, role=Role.COUNTY_SUPERVISOR)))


def test_supervisor_sees_charts_and_switches_the_period(
    server: LiveServer, nation_dir: Path, page: Page
) -> None:
    sup = _supervisor(nation_dir)
    page.goto(server.url + "/supervision")
    expect(page).to_have_url(re.compile(r"/access/sign-in"))
    page.get_by_label("用户名").fill(sup.login)
    page.get_by_label("密码").fill(sup.password)
    page.locator("form.stack button[type=submit]").click()
    expect(page.locator("#totp-secret")).to_be_visible()
    page.locator("#code").fill(current_code(sup))
    page.locator("form.stack button[type=submit]").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("督办")
    expect(page.get_by_role("navigation", name="主导航").get_by_role("link", name="督办")).to_be_visible()
    expect(page.locator("#sv-where")).to_contain_text(sup.division_code)
    charts = page.locator("figure.chart svg[role=img]")
    assert charts.count() >= 5
    expect(page.get_by_role("img", name=re.compile("每日受理件数"))).to_be_visible()
    bars = page.locator("#chart-volume rect[data-value]")
    assert bars.count() > 0  # the demo cases of the last 30 days
    accepted = int(page.locator("[data-figure=accepted] dd").inner_text().replace(",", ""))
    assert accepted == sum(int(v) for v in bars.evaluate_all("els => els.map(e => e.dataset.value)"))

    page.locator("#chart-volume summary").click()
    expect(page.locator("#chart-volume table")).to_be_visible()
    screenshot(page, "supervision-zh-CN")

    page.evaluate("window.__stayed = true")  # gone if the page reloads
    page.get_by_role("link", name="近 7 天").click()
    expect(page.locator("#sv-period")).to_have_attribute("data-period", "7")
    expect(page).to_have_url(re.compile(r"/supervision\?period=7$"))
    assert page.evaluate("window.__stayed === true")  # htmx swapped the dashboard, no reload
    expect(page.get_by_role("link", name="近 7 天")).to_have_attribute("aria-current", "page")
    assert page.locator("#chart-volume rect[data-value], #chart-volume text").count() > 0
    screenshot(page, "supervision-7-days-zh-CN")

    page.get_by_role("link", name="近 90 天").click()
    expect(page.get_by_role("img", name=re.compile("每周受理件数"))).to_be_visible()
