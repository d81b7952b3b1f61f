"""A clerk finds a person by ID number or name (hanzi, pinyin, initials) and reads their household and history.

The clerk is the demo clerk of the Beijing node: searches and record pages stay within their county.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pypinyin import Style, lazy_pinyin
from tests.people.people_helpers import Served, serve_small_nation

from tongban.access.accesslog import views_of_person
from tongban.access.web import VIEW_SERVICE

BJ = "110000"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = serve_small_nation(tmp_path_factory.mktemp("nation"), [BJ, "650000"], people=800)
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(served: Served) -> TestClient:
    return served.client_of(BJ)


def _hits(html: str) -> list[tuple[str, str]]:
    """(person page, name) of every result."""
    return re.findall(r'<a href="(/people/p/\d+)\?s=[0-9a-f]+" class="person-link">([^<]+)</a>', html)


def _a_person(client: TestClient) -> tuple[str, str]:
    """(name, person page) of someone in the clerk's county."""
    for initial in "wlzcyh":
        r = client.post("/people/results", data={"q": initial})
        assert r.status_code == 200, r.text
        hits = _hits(r.text)
        if hits:
            page, name = hits[0]
            return name, page
    raise AssertionError("no one found in the clerk's county")


def test_search_by_initials_shows_masked_id_numbers(client: TestClient) -> None:
    name, page = _a_person(client)
    initials = "".join(lazy_pinyin(name, style=Style.FIRST_LETTER))
    r = client.post("/people/", params={"lang": "zh_CN"}, data={"q": initials})
    assert r.status_code == 200
    assert page in [p for p, _n in _hits(r.text)]
    shown = re.findall(r"<code>([0-9X*]{18})</code>", r.text)
    assert shown and all(s[6:14] == "*" * 8 for s in shown)  # no full ID number in a list


def test_search_by_hanzi_and_full_pinyin(client: TestClient) -> None:
    name, page = _a_person(client)
    assert page in [p for p, _n in _hits(client.post("/people/results", data={"q": name}).text)]
    by_pinyin = client.post("/people/results", data={"q": "".join(lazy_pinyin(name))})
    assert page in [p for p, _n in _hits(by_pinyin.text)]


def test_results_stay_within_the_clerks_county(served: Served, client: TestClient) -> None:
    county = served.clerks[BJ].division_code
    r = client.post("/people/results", data={"q": "w"})
    assert "Registered in" in r.text or "户籍所在地" in r.text
    for page, _name in _hits(r.text):
        person = client.get(page, params={"lang": "en"})
        assert person.status_code == 200
    # Every result's ID number was issued in the province (the area code kept is a Beijing one).
    assert all(code.startswith("11") for code in re.findall(r"<code>(\d{6})\*", r.text))
    assert county.startswith("11")


def test_person_page_shows_household_and_history_and_records_the_view(
    served: Served, client: TestClient
) -> None:
    name, page = _a_person(client)
    r = client.get(page, params={"lang": "zh_CN", "s": "abc123"})
    assert r.status_code == 200
    assert f">{name} <" in r.text or f">{name}<" in r.text
    assert 'data-event="born"' in r.text
    assert "户籍登记历史" in r.text and "本户现有在册人员" in r.text
    id_number = re.search(r"<dd><code>(\d{17}[\dX])</code></dd>", r.text)
    assert id_number
    found = client.post("/people/", data={"q": id_number.group(1)})
    assert found.status_code == 303
    assert found.headers["location"].startswith(page + "?s=")
    node = served.runtime.nodes[BJ]
    node.services[VIEW_SERVICE].flush()
    person_ref = page.rsplit("/", 1)[1]
    views = views_of_person(node.db, person_ref=person_ref)
    assert any(v.reason == "search" and v.reason_ref == "abc123" for v in views)


def test_english_pages(client: TestClient) -> None:
    _name, page = _a_person(client)
    r = client.get(page, params={"lang": "en"})
    assert "Registration history" in r.text and "Registered at birth" in r.text
    assert "Beijing Shi" in r.text  # divisions in pinyin
    search = client.post("/people/", params={"lang": "en"}, data={"q": "zzzzzz"})
    assert "No one in this node" in search.text


def test_a_malformed_id_number_says_why_in_the_users_language(client: TestClient) -> None:
    r = client.post(
        "/people/", params={"lang": "zh_CN"}, data={"q": "110105194912310021"}
    )  # wrong check character
    assert r.status_code == 200
    assert "这不是有效的公民身份号码" in r.text
    r = client.post("/people/", params={"lang": "en"}, data={"q": "110105194912310021"})
    assert "This is not a valid ID number" in r.text


def test_an_unknown_person_is_not_found(client: TestClient) -> None:
    assert client.get("/people/p/99999999").status_code == 404
    assert client.get("/people/p/0").status_code == 422


def test_someone_outside_the_county_answers_like_a_missing_person(served: Served, client: TestClient) -> None:
    county = served.clerks[BJ].division_code
    other = served.client_of("650000")  # the Xinjiang clerk finds their own people ...
    _name, page = _a_person(other)
    assert other.get(page).status_code == 200
    # ... which Beijing's clerk cannot see: another node's person reference is just missing in Beijing's node,
    # and Beijing's own people outside the clerk's county are refused the same way.
    beijing_outside = [p for p in range(1, 120) if client.get(f"/people/p/{p}").status_code == 404]
    assert beijing_outside, f"expected people outside county {county}"
    missing = client.get("/people/p/99999999", params={"lang": "en"})
    outside = client.get(f"/people/p/{beijing_outside[0]}", params={"lang": "en"})
    assert outside.status_code == missing.status_code == 404
    assert re.sub(r"/people/p/\d+", "", outside.text) == re.sub(r"/people/p/\d+", "", missing.text)


def test_anonymous_visitors_are_sent_to_sign_in(served: Served) -> None:
    anonymous = TestClient(served.runtime.extras["app"], follow_redirects=False)
    r = anonymous.get("/people/", headers={"accept": "text/html"})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/access/sign-in")


def test_every_route_declares_its_rule(client: TestClient) -> None:
    from tongban.core.routing import declared_routes

    rules = {r.path: r.rule for r in declared_routes(client.app.routes)}  # type: ignore[attr-defined]
    assert rules["/people/"] is not None and rules["/people/"].action == "registry.person.search"
    assert (
        rules["/people/results"] is not None and rules["/people/results"].action == "registry.person.search"
    )
    assert (
        rules["/people/p/{person_id}"] is not None
        and rules["/people/p/{person_id}"].action == "registry.person.read"
    )


def test_a_search_without_its_csrf_token_is_refused(served: Served) -> None:
    client = served.client_of(BJ)
    del client.headers["x-csrf-token"]
    r = client.post("/people/results", data={"q": "w"})
    assert r.status_code == 403
    assert "person-link" not in r.text


def test_a_deceased_persons_record_shows_the_death_and_no_household(
    served: Served, client: TestClient
) -> None:
    from tongban.nation.generator import generate_province

    county = served.clerks[BJ].division_code
    nation = generate_province(BJ, 800, 2026, other_provinces=(BJ, "650000"))
    households = {h.number: h.division_code for h in nation.households}
    dead = [p for p in nation.persons if p.deceased and households[p.events[-1].household or ""] == county]
    assert dead, "the seed gives deaths in the clerk's county"
    found = client.post("/people/", data={"q": dead[0].id_number})
    assert found.status_code == 303
    page = client.get(found.headers["location"], params={"lang": "zh_CN"})
    assert page.status_code == 200
    assert 'data-event="deceased"' in page.text
    assert "目前未在本节点任何户内登记" in page.text
