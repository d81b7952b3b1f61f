"""A case write and its audit row commit together: when the audit row cannot be written, the case change is
rolled back (no event, same state) and an upload leaves neither a row nor a file behind."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.access.helpers import add, make_env, signed_in

from tongban.access.domain import Role
from tongban.cases import materials, window
from tongban.cases.tables import MaterialRow
from tongban.core.db import Database

PDF = b"%PDF-1.4\n%%EOF\n"


class AuditDown(RuntimeError):
    pass


def broken_audit(*_: Any, **__: Any) -> None:
    raise AuditDown("audit log unavailable")


def test_no_case_change_without_its_audit_row(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(database, tmp_path)
    user = add(env, Role.WINDOW_CLERK, "clerk.t")
    client, csrf = signed_in(env, user)
    h = {"X-CSRF-Token": csrf}
    number = client.post(
        "/api/v1/cases", json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X"}, headers=h
    ).json()["number"]

    monkeypatch.setattr(window, "record_audit", broken_audit)
    monkeypatch.setattr(materials, "record_audit", broken_audit)
    raising = TestClient(env.app, raise_server_exceptions=False, follow_redirects=False)
    raising.cookies = client.cookies
    r = raising.post(f"/api/v1/cases/{number}/actions", json={"action": "start"}, headers=h)
    assert r.status_code == 500
    r = raising.post(
        f"/api/v1/cases/{number}/materials",
        data={"material": "marriage_certificate"},
        files={"file": ("m.pdf", io.BytesIO(PDF), "application/pdf")},
        headers=h,
    )
    assert r.status_code == 500
    monkeypatch.undo()

    case = client.get(f"/api/v1/cases/{number}").json()
    assert case["state"] == "accepted" and len(case["history"]) == 1
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(MaterialRow)) == 0
    d = materials.materials_dir(env.node)
    assert not d.exists() or list(d.iterdir()) == []


def test_uploads_to_closed_cases_and_other_cases_materials_are_refused(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.w"))
    h = {"X-CSRF-Token": csrf}

    def new_case() -> str:
        r = client.post(
            "/api/v1/cases", json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X"}, headers=h
        )
        return str(r.json()["number"])

    first, second = new_case(), new_case()
    up = client.post(
        f"/api/v1/cases/{first}/materials",
        data={"material": "marriage_certificate"},
        files={"file": ("m.pdf", io.BytesIO(PDF), "application/pdf")},
        headers=h,
    )
    assert up.status_code == 201
    mid = up.json()["id"]
    assert client.get(f"/api/v1/cases/{second}/materials/{mid}").status_code == 404  # not this case's
    assert [m["id"] for m in client.get(f"/api/v1/cases/{first}/materials").json()] == [mid]
    assert (
        client.post(f"/api/v1/cases/{second}/actions", json={"action": "withdraw"}, headers=h).status_code
        == 200
    )
    closed = client.post(
        f"/api/v1/cases/{second}/materials",
        data={"material": "marriage_certificate"},
        files={"file": ("m.pdf", io.BytesIO(PDF), "application/pdf")},
        headers=h,
    )
    assert closed.status_code == 409
