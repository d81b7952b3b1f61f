"""A registrar corrects a household's address and changes its head from a person's page; the home page shows
the registry's figures of the user's jurisdiction."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from tests.access.helpers import Env, add, anonymous, make_env, signed_in
from tests.registry.registry_helpers import new_id

from tongban.access.domain import Role
from tongban.core.db import Database
from tongban.registry import queries, service

ACTOR = "test"


def _setup(env: Env) -> tuple[int, int]:
    node = env.node
    for number, division in (("H1", "110105"), ("H2", "110108")):
        service.create_household(
            node, actor=ACTOR, number=number, kind="family", address="朝阳区测试路1号", division_code=division
        )
    ids = []
    for hh, relation, seq, born in (
        ("H1", "head", 11, date(1960, 1, 1)),
        ("H1", "child", 13, date(1990, 1, 1)),
        ("H2", "head", 15, date(1970, 1, 1)),
    ):
        p = service.register_person(
            node, actor=ACTOR, household_number=hh, relation=relation, event="moved_in", name=f"张{seq}",
            sex="male", birth_date=born, ethnicity="01", birthplace="110105",
            id_number=new_id(born=born, seq=seq), on_date=date(2020, 1, 1),
        )  # fmt: skip
        ids.append(p.person_id)
    return ids[0], ids[1]


def test_a_registrar_changes_the_head_and_the_address_from_the_person_page(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    father, son = _setup(env)
    client, csrf = signed_in(env, add(env, Role.REVIEWER, "rev1"))
    page = client.get(f"/people/p/{father}", params={"lang": "en"})
    assert page.status_code == 200 and "Change the head of household" in page.text

    refused = client.post(
        "/people/households/H1/head",
        data={
            "csrf_token": csrf,
            "person_id": father,
            "new_head": son,
            "old_head_relation": "head",
            "reason": "x",
        },
        params={"lang": "en"},
    )
    assert refused.status_code == 422 and "give the old head another relation" in refused.text
    done = client.post(
        "/people/households/H1/head",
        data={"csrf_token": csrf, "person_id": father, "new_head": son, "old_head_relation": "parent",
              "reason": "户主变更"},
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == f"/people/p/{father}"
    household = queries.get_household(env.node, actor=ACTOR, number="H1")
    assert household.head_person_id == son
    fixed = client.post(
        "/people/households/H1/address",
        data={"csrf_token": csrf, "person_id": father, "address": "朝阳区测试路9号", "reason": "门牌整编"},
    )
    assert fixed.status_code == 303
    page = client.get(f"/people/p/{father}", params={"lang": "en"})
    assert "朝阳区测试路9号" in page.text and "Head of household changed" in page.text
    assert "Address corrected" in page.text and "朝阳区测试路1号" in page.text  # the prior address


def test_a_clerk_sees_no_forms_and_may_not_post_them(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    father, _son = _setup(env)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk1"))
    page = client.get(f"/people/p/{father}", params={"lang": "en"})
    assert page.status_code == 200 and "Change the head of household" not in page.text
    r = client.post(
        "/people/households/H1/address",
        data={"csrf_token": csrf, "person_id": father, "address": "x", "reason": "x"},
    )
    assert r.status_code == 403
    other, other_csrf = signed_in(env, add(env, Role.REVIEWER, "rev2", division="110108"))
    r = other.post(
        "/people/households/H1/address",
        data={"csrf_token": other_csrf, "person_id": father, "address": "x", "reason": "x"},
    )
    assert r.status_code == 404
    assert queries.get_household(env.node, actor=ACTOR, number="H1").address == "朝阳区测试路1号"


def _figures(html: str) -> dict[str, dict[str, str]]:
    rows = re.findall(r'<tr data-division="(\w+)">(.*?)</tr>', html, re.S)
    return {d: dict(re.findall(r'data-status="(\w+)">([\d,]+)<', body)) for d, body in rows}


def test_the_home_page_shows_the_figures_of_the_users_county(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    _setup(env)
    clerk, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk1"))
    figures = _figures(clerk.get("/", params={"lang": "en"}).text)
    assert set(figures) == {"110105"}
    assert figures["110105"]["active"] == "2" and figures["110105"]["households"] == "1"
    admin, _ = signed_in(env, add(env, Role.PROVINCIAL_ADMIN, "admin1", division="110000"))
    figures = _figures(admin.get("/", params={"lang": "en"}).text)
    assert set(figures) == {"110105", "110108", "total"}
    assert figures["total"]["active"] == "3" and figures["total"]["households"] == "2"
    visitor, _ = anonymous(env)
    assert "Registry figures" not in visitor.get("/", params={"lang": "en"}).text
