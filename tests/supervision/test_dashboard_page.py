"""The dashboard over HTTP: who may see it and how far, its charts as SVG with text alternatives, both
languages, the period switch (whole page and htmx fragment), and the nav link for supervisors only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.access.helpers import Env, add, make_env, signed_in
from tests.supervision.helpers import NOW, known_cases
from tongban.access.domain import Role
from tongban.core.db import Database


def env_with_cases(database: Database, tmp_path: Path) -> Env:
    env = make_env(database, tmp_path)
    env.clock.set(NOW)
    with database.transaction() as s:
        known_cases(s)
    return env


def figure(html: str, name: str) -> str:
    m = re.search(rf'data-figure="{name}"[^>]*><dt>[^<]*</dt><dd>([^<]*)</dd>', html)
    assert m, name
    return m.group(1)


def test_a_clerk_is_refused_and_has_no_link(database: Database, tmp_path: Path) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.s"))
    assert client.get("/supervision").status_code == 403
    assert 'href="/supervision"' not in client.get("/cases/queue").text


def test_a_county_supervisor_sees_their_county_only(database: Database, tmp_path: Path) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.COUNTY_SUPERVISOR, "sup.county", division="110105"))
    page = client.get("/supervision?period=7&lang=en")
    assert page.status_code == 200
    html = page.text
    assert 'href="/supervision"' in html  # the nav entry
    assert figure(html, "accepted") == "4"
    assert figure(html, "open") == "6"
    assert figure(html, "overdue") == "2"
    assert 'data-figure="overdue-tasks"' not in html
    assert 'data-case="110000-20261127-000002"' in html and 'href="/cases/110000-20261127-000002"' in html
    assert "110000-20261126-000001" not in html  # 110108's overdue case
    assert 'data-office="110108-01"' not in html
    # the county's own supervisor may open the overdue case the list links to
    assert client.get("/cases/110000-20261127-000002").status_code == 200
    other, _ = signed_in(env, add(env, Role.COUNTY_SUPERVISOR, "sup.other", division="110108"))
    html = other.get("/supervision?period=7").text
    assert figure(html, "accepted") == "1" and figure(html, "overdue") == "1"
    assert "110000-20261127-000002" not in html


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("zh_CN", ["督办", "每日受理件数", "按时办结", "超期办件（按事项）", "显示数据表", "近 7 天"]),
        (
            "en",
            [
                "Supervision",
                "Cases accepted per day",
                "Concluded on time",
                "Overdue cases by matter",
                "Show the figures as a table",
                "Last 7 days",
            ],
        ),
    ],
)
def test_the_page_draws_accessible_charts_in_both_languages(
    database: Database, tmp_path: Path, lang: str, texts: list[str]
) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.PROVINCIAL_ADMIN, "admin.s", division="110000"))
    html = client.get(f"/supervision?period=7&lang={lang}").text
    for text in texts:
        assert text in html, text
    svgs = re.findall(r"<svg [^>]*>", html)
    assert len(svgs) >= 5
    assert all('role="img"' in s and "aria-labelledby=" in s for s in svgs)
    for chart in (
        "chart-volume",
        "chart-states",
        "chart-on-time",
        "chart-overdue-matter",
        "chart-overdue-office",
    ):
        assert f'id="{chart}-title"' in html
    assert html.count("<details>") >= 4  # each chart's figures as a table
    assert figure(html, "overdue-tasks") == "1"  # the province covers the node: its tasks count
    assert 'data-rate="1.0"' in html  # the 7 days' one concluded case was on time
    # the volume bars: 1, 1, 1, 2 from the 24th to the 27th
    values = re.findall(r'<rect [^>]*fill="#1447a6" data-value="(\d+)"', html)
    assert values == ["1", "1", "1", "2"]


def test_numbers_and_rates_follow_the_language(database: Database, tmp_path: Path) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.NATIONAL_SUPERVISOR, "nat.s", division="110000"))
    en = client.get("/supervision?period=30&lang=en").text
    zh = client.get("/supervision?period=30&lang=zh_CN").text
    assert figure(en, "on-time-rate") == "66.7%"
    assert figure(zh, "on-time-rate") == "66.7%"
    assert "Nov 27, 2026" in en and "2026年11月27日" in zh


def test_switching_the_period(database: Database, tmp_path: Path) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.COUNTY_SUPERVISOR, "sup.p", division="110105"))
    whole = client.get("/supervision?period=90")
    assert whole.status_code == 200 and "<html" in whole.text
    assert 'data-period="90" aria-current="page"' in whole.text
    assert "Cases accepted per week" in client.get("/supervision?period=90&lang=en").text
    fragment = client.get("/supervision?period=30", headers={"HX-Request": "true", "HX-Target": "dashboard"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="key-figures"' in fragment.text
    assert 'data-period="30" aria-current="page"' in fragment.text
    assert 'data-period="30"' in client.get("/supervision?period=oops").text  # unknown: the default


def test_an_office_head_sees_their_office(database: Database, tmp_path: Path) -> None:
    env = env_with_cases(database, tmp_path)
    client, _ = signed_in(env, add(env, Role.OFFICE_HEAD, "head.s", division="110105", office="110105-02"))
    html = client.get("/supervision?period=30").text
    assert figure(html, "accepted") == "1" and figure(html, "open") == "2"
    assert {*re.findall(r'data-office="([^"]+)"', html)} == {"110105-02"}
