"""Through the registry's own API: a clerk of one county cannot read a person of another county, by record id,
by ID number, by search, or by guessing URLs; refused reads leave no access record; lists are masked."""

from __future__ import annotations

from pathlib import Path

from tongban.access.accesslog import views_of_person
from tongban.access.domain import Role
from tongban.access.web import view_buffer
from tongban.core.db import Database

from ..registry.registry_helpers import new_id
from .helpers import add, make_env, signed_in

API = "/api/v1/registry"


def test_a_clerk_of_another_county_reaches_nothing(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    rev = add(env, Role.REVIEWER, "rev", division="110105")
    client, csrf = signed_in(env, rev)
    h = {"X-CSRF-Token": csrf}
    body = {"number": "H1", "kind": "family", "address": "朝阳区测试路1号", "division_code": "110105"}
    assert client.post(f"{API}/households", json=body, headers=h).status_code == 201
    person = {
        "household_number": "H1", "relation": "head", "event": "moved_in", "name": "欧阳明", "sex": "male",
        "birth_date": "1990-05-17", "ethnicity": "01", "birthplace": "110105", "id_number": new_id(),
        "on_date": "2020-01-01",
    }  # fmt: skip
    created = client.post(f"{API}/persons", json=person, headers=h)
    assert created.status_code == 201, created.text
    pid = created.json()["person_id"]

    home = add(env, Role.WINDOW_CLERK, "home", division="110105")
    away = add(env, Role.WINDOW_CLERK, "away", division="110108", office="OFF-HD")
    hc, hcsrf = signed_in(env, home)
    ac, acsrf = signed_in(env, away)

    # The home county's clerk reads it, masked in lists.
    assert hc.get(f"{API}/persons/{pid}").status_code == 200
    hits = hc.get(f"{API}/search", params={"q": "ouyang"}).json()
    assert [x["person_id"] for x in hits] == [pid]
    assert hits[0]["id_number"] == new_id()[:6] + "********" + new_id()[-4:]
    members = hc.get(f"{API}/households/H1").json()["members"]
    assert new_id() not in str(members)

    # The other county's clerk: every way in answers like nothing is there.
    missing = ac.get(f"{API}/persons/{pid + 1000}")
    assert missing.status_code == 404
    for url in (f"{API}/persons/{pid}", f"{API}/persons/{pid}/journal", f"{API}/households/H1"):
        r = ac.get(url)
        assert r.status_code == 404, url
        assert r.json()["detail"] == missing.json()["detail"]
    assert ac.get(f"{API}/persons/{pid}/status", params={"on": "2021-01-01"}).status_code == 404
    lookup = ac.post(f"{API}/persons/lookup", json={"id_number": new_id()}, headers={"X-CSRF-Token": acsrf})
    assert lookup.status_code == 404
    assert ac.get(f"{API}/search", params={"q": "ouyang"}).json() == []
    assert ac.get(f"{API}/search", params={"q": "欧阳"}).json() == []

    view_buffer(env.node).flush()
    viewers = {v.viewer_id for v in views_of_person(database, person_ref=str(pid))}
    assert str(home.id) in viewers and str(away.id) not in viewers
    assert hcsrf  # the home clerk's session stays valid throughout
