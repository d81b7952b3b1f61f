"""A demo clerk signs in, finds a person by pinyin initials and opens their history, in Chinese and English.

Runs against a real ``tongban serve`` on a generated nation, in Debian's Chromium; screenshots of every page
go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypinyin import Style, lazy_pinyin

from tests.conftest import test_settings
from tests.e2e.conftest import LiveServer, screenshot
from tongban.nation.build import build_nation
from tongban.nation.demo import DemoAccount, current_code, read_demo_file
from tongban.nation.generator import generate_province

pytestmark = pytest.mark.e2e

CODES = ["110000", "650000"]
PEOPLE = 600
SEED = 2026


@pytest.fixture(scope="module")
def nation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("nation")
    build_nation(test_settings(data_dir), CODES, people=PEOPLE, seed=SEED)
    return data_dir


@pytest.fixture(scope="module")
def server(nation_dir: Path) -> Iterator[LiveServer]:
    srv = LiveServer(nation_dir)
    yield srv
    srv.stop()


def _clerk(nation_dir: Path, node: str) -> DemoAccount:
    return next(a for a in read_demo_file(nation_dir) if a.node == node)


def _someone_in(county: str, node: str) -> str:
    """The name of a living person registered now in ``county``, with a three-character Han name."""
    nation = generate_province(node, PEOPLE, SEED, other_provinces=tuple(CODES))
    by_number = {h.number: h for h in nation.households}
    for p in nation.persons:
        last = p.events[-1]
        if (
            last.event in ("born", "moved_in")
            and by_number[last.household or ""].division_code == county
            and len(p.name) == 3
            and all("\u4e00" <= ch <= "\u9fff" for ch in p.name)
        ):
            return p.name
    raise AssertionError(f"nobody with a three-character name in {county}")


def _sign_in(page: Page, server: LiveServer, clerk: DemoAccount) -> None:
    page.goto(server.url + "/people/")
    expect(page).to_have_url(re.compile(r"/access/sign-in"))
    page.get_by_label("用户名").fill(clerk.login)
    page.get_by_label("密码").fill(clerk.password)
    page.locator("form.stack button[type=submit]").click()
    # First sign-in: the second factor's enrolment, with the key shown beside its QR code.
    expect(page.locator("#totp-secret")).to_be_visible()
    assert page.locator("#totp-secret").inner_text().replace(" ", "") == clerk.totp_secret
    screenshot(page, "enrol-zh-CN")
    page.locator("#code").fill(current_code(clerk))
    page.locator("form.stack button[type=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("查询人员")


def _search_and_open(page: Page, name: str, initials: str, *, lang: str) -> None:
    box = page.get_by_role("searchbox")
    box.fill("")
    box.press_sequentially(initials, delay=60)  # live results (htmx) while typing, no submit
    link = page.locator("#results a.person-link", has_text=name).first
    expect(link).to_be_visible()
    for code in page.locator("#results code").all_inner_texts():
        assert code[6:14] == "********"  # masked in lists
    screenshot(page, f"search-{lang}")
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.locator("table.history tr[data-event]").first).to_be_visible()
    screenshot(page, f"person-{lang}")


def test_clerk_finds_a_person_by_initials_and_reads_the_history(
    server: LiveServer, nation_dir: Path, page: Page
) -> None:
    clerk = _clerk(nation_dir, "110000")
    name = _someone_in(clerk.division_code, "110000")
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))
    _sign_in(page, server, clerk)

    _search_and_open(page, name, initials, lang="zh-CN")
    expect(page.get_by_role("heading", name="户籍登记历史")).to_be_visible()
    expect(page.locator("table.history")).to_contain_text("出生登记")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Registration history")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find a person").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a person")
    _search_and_open(page, name, initials, lang="en")
    expect(page.locator("table.history")).to_contain_text("Registered at birth")
    expect(page.locator("dl.facts")).to_contain_text("Beijing Shi")


def test_the_search_form_works_with_the_keyboard_alone(
    server: LiveServer, nation_dir: Path, page: Page
) -> None:
    clerk = _clerk(nation_dir, "650000")
    page.goto(server.url + "/?node=650000&lang=zh_CN")  # the node switcher's choice is remembered
    page.goto(server.url + "/people/")
    page.get_by_label("用户名").fill(clerk.login)
    page.get_by_label("密码").fill(clerk.password)
    page.keyboard.press("Enter")
    page.locator("#code").fill(current_code(clerk))
    page.keyboard.press("Enter")
    box = page.get_by_role("searchbox", name="公民身份号码或姓名")
    expect(box).to_be_focused()  # the search box has the focus on arrival
    box.type("a")
    page.keyboard.press("Enter")  # submitting without JavaScript's help gives the same results page
    first = page.locator("#results a.person-link").first
    expect(first).to_be_visible()
    first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("table.history")).to_be_visible()
