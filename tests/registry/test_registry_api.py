"""The registry's REST API: operations and queries, problem documents, jurisdiction, masking, access records."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tongban.access.accesslog import views_of_person
from tongban.access.domain import Role
from tongban.access.web import view_buffer
from tongban.core.db import Database

from ..access.helpers import Env, add, make_env, signed_in
from .registry_helpers import new_id

_CHILD_BORN = date(2010, 3, 3)

API = "/api/v1/registry"


def reviewer(env: Env, division: str = "110105") -> tuple[TestClient, dict[str, str]]:
    user = add(env, Role.REVIEWER, f"rev{division}", division=division)
    client, csrf = signed_in(env, user)
    return client, {"X-CSRF-Token": csrf}


def household(client: TestClient, h: dict[str, str], number: str = "H1", division: str = "110105") -> Any:
    body = {"number": number, "kind": "family", "address": "朝阳区测试路1号", "division_code": division}
    return client.post(f"{API}/households", json=body, headers=h)


def register(client: TestClient, h: dict[str, str], **over: Any) -> Any:
    body = {
        "household_number": "H1", "relation": "head", "event": "moved_in", "name": "阿依古丽·买买提",
        "sex": "male", "birth_date": "1990-05-17", "ethnicity": "05", "birthplace": "650102",
        "id_number": new_id(), "on_date": "2020-01-01", **over,
    }  # fmt: skip
    return client.post(f"{API}/persons", json=body, headers=h)


def test_register_read_move_and_cancel_through_the_api(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    assert household(client, h).status_code == 201
    assert household(client, h, "H2").status_code == 201
    created = register(client, h)
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["name"] == "阿依古丽·买买提" and person["status"] == "active"
    pid = person["person_id"]

    looked = client.post(f"{API}/persons/lookup", json={"id_number": new_id()}, headers=h)
    assert looked.json()["person_id"] == pid and looked.json()["id_number"] == new_id()
    members = client.get(f"{API}/households/H1").json()["members"]
    assert members[0]["id_number"] == new_id()[:6] + "********" + new_id()[-4:]

    moved = client.post(
        f"{API}/persons/{pid}/moves",
        json={"to_household": "H2", "relation": "head", "reason": "分户"},
        headers=h,
    )
    assert moved.status_code == 200 and moved.json()["household_number"] == "H2"
    journal = client.get(f"{API}/persons/{pid}/journal").json()
    assert [e["event"] for e in journal] == ["moved_in", "moved_out", "moved_in"]
    status = client.get(f"{API}/persons/{pid}/status", params={"on": "2019-12-31"}).json()
    assert status["status"] is None
    hits = client.get(f"{API}/search", params={"q": "maimaiti"}).json()
    assert [x["person_id"] for x in hits] == [pid] and "*" in hits[0]["id_number"]

    gone = client.post(f"{API}/persons/{pid}/cancellation", json={"reason": "emigration"}, headers=h)
    assert gone.json()["status"] == "cancelled"
    again = client.post(
        f"{API}/persons/{pid}/moves",
        json={"to_household": "H1", "relation": "head", "reason": "x"},
        headers=h,
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["code"] == "conflict"
    # A cancelled person's record is still theirs to read in the county.
    assert client.get(f"{API}/persons/{pid}").status_code == 200


def test_errors_are_problem_documents(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    bad = register(client, h, id_number=new_id()[:-1] + ("0" if new_id()[-1] != "0" else "1"))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid-id-number"
    dup = household(client, h)
    assert dup.status_code == 409
    unknown = register(client, h, ethnicity="99", id_number=new_id(seq=13))
    assert unknown.status_code == 422 and "99" in unknown.json()["detail"]
    assert unknown.headers["content-type"].startswith("application/problem+json")
    outside = household(client, h, "H3", division="119999")  # not a division of the reviewer's county
    assert outside.status_code == 404


def test_a_reviewer_of_another_county_sees_nothing(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    pid = register(client, h).json()["person_id"]
    other, oh = reviewer(env, "110108")
    missing = other.get(f"{API}/persons/999999")
    theirs = other.get(f"{API}/persons/{pid}")
    assert theirs.status_code == missing.status_code == 404
    assert other.post(f"{API}/persons/lookup", json={"id_number": new_id()}, headers=oh).status_code == 404
    assert other.get(f"{API}/search", params={"q": "ayi"}).json() == []
    assert other.get(f"{API}/households/H1").status_code == 404
    assert household(other, oh, "H9", division="110105").status_code == 404


def test_a_clerk_reads_but_does_not_change_and_reads_are_logged(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    pid = register(client, h).json()["person_id"]
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    cc, ch = signed_in(env, clerk)
    assert cc.get(f"{API}/persons/{pid}", params={"case_ref": "CASE-9"}).status_code == 200
    assert household(cc, {"X-CSRF-Token": ch}, "H5").status_code == 403
    view_buffer(env.node).flush()
    views = views_of_person(database, person_ref=str(pid))
    assert any(
        v.viewer_id == str(clerk.id) and v.reason == "case" and v.reason_ref == "CASE-9" for v in views
    )


def test_every_write_is_audited(database: Database, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from tongban.audit.tables import AuditRow

    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    register(client, h)
    with database.session() as s:
        actions = s.execute(sa.select(AuditRow.action).order_by(AuditRow.seq)).scalars().all()
    assert "registry.household.create" in actions and "registry.person.moved_in" in actions


def test_household_address_and_head_through_the_api(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    head = register(client, h).json()
    child = register(
        client, h, relation="child", name="小明", id_number=new_id(born=_CHILD_BORN, seq=13),
        birth_date=_CHILD_BORN.isoformat(), on_date="2020-01-02",
    ).json()  # fmt: skip

    fixed = client.post(
        f"{API}/households/H1/address-corrections",
        json={"address": "朝阳区测试路2号", "reason": "门牌整编"},
        headers=h,
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["address"] == "朝阳区测试路2号"
    same = client.post(
        f"{API}/households/H1/address-corrections",
        json={"address": "朝阳区测试路2号", "reason": "x"},
        headers=h,
    )
    assert same.status_code == 422 and same.headers["content-type"].startswith("application/problem+json")

    outsider = client.post(
        f"{API}/households/H1/head",
        json={"new_head_person_id": 999999, "old_head_relation": "parent", "reason": "x"},
        headers=h,
    )
    assert outsider.status_code == 409 and outsider.json()["code"] == "conflict"
    changed = client.post(
        f"{API}/households/H1/head",
        json={"new_head_person_id": child["person_id"], "old_head_relation": "parent", "reason": "户主变更"},
        headers=h,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["head_person_id"] == child["person_id"]
    assert [m["relation"] for m in changed.json()["members"]] == ["head", "parent"]
    journal = client.get(f"{API}/households/H1/journal").json()
    assert [e["event"] for e in journal] == ["address_corrected", "head_changed"]
    assert journal[0]["detail"]["old"] == "朝阳区测试路1号"
    assert journal[1]["detail"]["old_head_person_id"] == head["person_id"]

    counts = client.get(f"{API}/counts").json()
    assert counts == {
        "persons": {"active": 2},
        "households": 1,
        "divisions": [{"division_code": "110105", "persons": {"active": 2}, "households": 1}],
    }


def test_household_changes_and_counts_stay_in_the_jurisdiction(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, h = reviewer(env)
    household(client, h)
    register(client, h)
    other, oh = reviewer(env, "110108")
    assert household(other, oh, "H2", division="110108").status_code == 201
    refused = other.post(
        f"{API}/households/H1/address-corrections", json={"address": "别处", "reason": "x"}, headers=oh
    )
    assert refused.status_code == 404
    assert other.get(f"{API}/households/H1/journal").status_code == 404
    assert other.get(f"{API}/counts").json() == {
        "persons": {},
        "households": 1,
        "divisions": [{"division_code": "110108", "persons": {}, "households": 1}],
    }
    clerk, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk1", division="110105"))
    assert clerk.get(f"{API}/counts").json()["persons"] == {"active": 1}
    assert (
        clerk.post(f"{API}/households/H1/head", json={"new_head_person_id": 1, "reason": "x"}).status_code
        == 403
    )
