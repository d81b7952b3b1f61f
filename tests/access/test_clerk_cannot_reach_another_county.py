"""A clerk of one county cannot read a person of another county: by id, by ID number, by search, by URL.

The registry's own API is built in parallel; these routes stand in for it and use exactly what the registry
uses from access: ``requires``, ``ensure_in_scope``, ``scope_filter``, ``present_id`` and ``record_view``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tongban.access.accesslog import views_of_person
from tongban.access.domain import Role
from tongban.access.masking import mask_id, present_id, present_phone
from tongban.access.web import CurrentUser, ensure_in_scope, record_view, scope_filter, view_buffer
from tongban.core.db import Database
from tongban.core.errors import NotFound
from tongban.core.routing import requires

from .helpers import add, make_env, signed_in


@dataclass(frozen=True)
class Person:
    ref: str
    id_number: str
    name: str
    phone: str
    division: str


PERSONS = [
    Person("p-1", "11010519491231002X", "张三", "13812345678", "110105"),
    Person("p-2", "110108199001011234", "李四", "13987654321", "110108"),
    Person("p-3", "310101198001010018", "王五", "13700001111", "310101"),
]
BY_REF = {p.ref: p for p in PERSONS}
BY_ID = {p.id_number: p for p in PERSONS}
OPEN_CASES = {("p-1", "CASE-1")}

router = APIRouter()


def _show(request: Request, p: Person, reason: str, ref: str | None) -> dict[str, str]:
    ensure_in_scope(request, p.division, person_ref=p.ref)
    record_view(request, person_ref=p.ref, person_division=p.division, reason=reason, reason_ref=ref)
    return {"ref": p.ref, "id_number": p.id_number, "name": p.name}


@router.get("/api/v1/testreg/persons/{ref}", dependencies=[requires("registry.person.read")])
def by_ref(request: Request, ref: str, case: str | None = None) -> dict[str, str]:
    p = BY_REF.get(ref)
    if p is None:
        raise NotFound("Not found")
    return _show(request, p, "case" if case else "search", case or str(uuid.uuid4()))


@router.get("/api/v1/testreg/by-id-number/{number}", dependencies=[requires("registry.person.read")])
def by_number(request: Request, number: str) -> dict[str, str]:
    p = BY_ID.get(number)
    if p is None:
        raise NotFound("Not found")
    return _show(request, p, "search", str(uuid.uuid4()))


def _search(request: Request, user: CurrentUser, q: str) -> list[dict[str, str]]:
    _, prefix = scope_filter(request)
    assert prefix is not None
    hits = [
        p
        for p in PERSONS
        if p.division.startswith(prefix) and (p.name.startswith(q) or p.id_number.startswith(q))
    ]
    return [
        {
            "ref": p.ref,
            "id_number": present_id(
                user, p.id_number, person_division=p.division, open_case=(p.ref, "CASE-1") in OPEN_CASES
            ),
            "phone": present_phone(
                user, p.phone, person_division=p.division, open_case=(p.ref, "CASE-1") in OPEN_CASES
            ),
            "name": p.name,
        }
        for p in hits
    ]


@router.get("/api/v1/testreg/search", dependencies=[requires("registry.person.search")])
def search(request: Request, user: CurrentUser, q: str = "") -> list[dict[str, str]]:
    return _search(request, user, q)


@router.get("/testreg/search", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_page(request: Request, user: CurrentUser, q: str = "") -> HTMLResponse:
    rows = "".join(
        f"<tr><td>{r['id_number']}</td><td>{r['phone']}</td></tr>" for r in _search(request, user, q)
    )
    return HTMLResponse(f"<table>{rows}</table>")


def _env(database: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = make_env(database, tmp_path)
    env.app.include_router(router)
    return env


def test_another_countys_person_answers_like_a_missing_one(database: Database, tmp_path: Path) -> None:
    env = _env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    client, _ = signed_in(env, clerk)
    assert client.get("/api/v1/testreg/persons/p-1").status_code == 200
    other = client.get("/api/v1/testreg/persons/p-2")
    missing = client.get("/api/v1/testreg/persons/p-999")
    assert other.status_code == missing.status_code == 404
    assert {k: v for k, v in other.json().items() if k != "instance"} == {
        k: v for k, v in missing.json().items() if k != "instance"
    }
    assert client.get("/api/v1/testreg/persons/p-3").status_code == 404
    assert client.get("/api/v1/testreg/by-id-number/110108199001011234").status_code == 404
    assert client.get("/api/v1/testreg/by-id-number/11010519491231002X").status_code == 200


def test_search_finds_only_the_clerks_county(database: Database, tmp_path: Path) -> None:
    env = _env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    client, _ = signed_in(env, clerk)
    assert [r["ref"] for r in client.get("/api/v1/testreg/search", params={"q": ""}).json()] == ["p-1"]
    assert client.get("/api/v1/testreg/search", params={"q": "李"}).json() == []
    assert client.get("/api/v1/testreg/search", params={"q": "110108"}).json() == []


def test_lists_are_masked_unless_role_and_open_case_allow(database: Database, tmp_path: Path) -> None:
    env = _env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    reviewer = add(env, Role.REVIEWER, "rev", division="110105")
    client, _ = signed_in(env, clerk)
    row = client.get("/api/v1/testreg/search").json()[0]
    assert row["id_number"] == "110105********002X" and row["phone"] == "138****5678"
    page = client.get("/testreg/search").text
    assert "110105********002X" in page and "11010519491231002X" not in page and "13812345678" not in page
    client, _ = signed_in(env, reviewer)
    assert client.get("/api/v1/testreg/search").json()[0]["id_number"] == "11010519491231002X"


def test_a_citizen_reads_only_their_own_record(database: Database, tmp_path: Path) -> None:
    env = _env(database, tmp_path)
    me = add(env, Role.CITIZEN, "c1", person="p-1")
    client, _ = signed_in(env, me)
    assert client.get("/api/v1/testreg/persons/p-1").status_code == 200
    assert client.get("/api/v1/testreg/persons/p-2").status_code == 404
    assert client.get("/api/v1/testreg/search").status_code == 403


def test_every_view_leaves_an_access_record(database: Database, tmp_path: Path) -> None:
    env = _env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    client, _ = signed_in(env, clerk)
    client.get("/api/v1/testreg/persons/p-1", params={"case": "CASE-1"})
    client.get("/api/v1/testreg/by-id-number/11010519491231002X")
    client.get("/api/v1/testreg/persons/p-2")  # refused: no view happened, no record
    view_buffer(get_node_of(env)).flush()
    rows = views_of_person(env.db, person_ref="p-1")
    assert [(r.reason, r.viewer_id) for r in rows] == [("search", str(clerk.id)), ("case", str(clerk.id))]
    assert rows[1].reason_ref == "CASE-1" and rows[0].person_division == "110105"
    assert views_of_person(env.db, person_ref="p-2") == []
    with env.db.engine.connect() as conn:
        dump = " ".join(
            str(v) for row in conn.exec_driver_sql("SELECT * FROM access_record_views") for v in row
        )
    assert "11010519491231002X" not in dump and "张三" not in dump
    assert mask_id("11010519491231002X") not in dump


def get_node_of(env):  # type: ignore[no-untyped-def]
    return env.node
