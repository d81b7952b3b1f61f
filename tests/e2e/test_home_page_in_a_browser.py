"""The first page works in a real browser, in Chinese by default and in English on request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot
from tongban.core.node import NodeEntry, write_manifest

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市"), NodeEntry("440000", "广东省")])
    srv = LiveServer(tmp_path)
    yield srv
    srv.stop()


def test_home_page_in_chinese_then_english(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("户籍业务跨省通办")
    rows = page.locator("table.grid tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tr[data-node='440000']")).to_contain_text("广东省")
    screenshot(page, "home-zh-CN")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cross-province household registration")
    page.goto(server.url + "/")  # the choice is remembered
    expect(page.get_by_role("heading", level=1)).to_have_text("Cross-province household registration")
    screenshot(page, "home-en")


def test_missing_page_explains_itself_in_the_users_language(server: LiveServer, page: Page) -> None:
    response = page.goto(server.url + "/no/such/page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("此地址下没有内容")


def test_node_switcher_remembers_the_node(server: LiveServer, page: Page) -> None:
    page.goto(server.url + "/")
    page.select_option("#node-select", "440000")
    page.wait_for_url("**node=440000**")
    expect(page.locator("#node-select")).to_have_value("440000")
    page.goto(server.url + "/")
    expect(page.locator("#node-select")).to_have_value("440000")
