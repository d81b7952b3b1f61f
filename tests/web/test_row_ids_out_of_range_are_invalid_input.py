"""A row id in a path beyond the row id range is invalid input (422 problem document), not a server error.

Found by the schemathesis run: SQLite's driver raised OverflowError (PostgreSQL a numeric range error) on such
ids, and the routes answered 500. PostgreSQL's ``Integer`` ids end at 2**31 - 1 (a range error after).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.access.helpers import make_env
from tongban.access import service
from tongban.access.domain import Scope
from tongban.core.db import Database
from tongban.core.routing import MAX_ROW_ID

TOO_BIG = 50542380677544565992401928779202560  # the id the fuzzer sent


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/cases/notifications/{id}/read"),
        ("GET", "/api/v1/cases/C-2026-000001/materials/{id}"),
        ("GET", "/api/v1/registry/persons/{id}"),
        ("GET", "/api/v1/registry/persons/{id}/journal"),
        ("POST", "/access/users/{id}/disable"),
        ("POST", "/cases/notifications/{id}/read"),
    ],
)
def test_ids_outside_the_row_id_range_are_refused_as_invalid(
    database: Database, tmp_path: Path, method: str, path: str
) -> None:
    env = make_env(database, tmp_path)
    token = service.create_api_token(
        env.db,
        name="ids",
        actions=[
            "access.user.manage",
            "access.account.self",
            "cases.notification.read",
            "cases.material.read",
            "registry.person.read",
        ],
        scope=Scope.PROVINCE,
        division_code="110000",
        actor="test",
        now=env.clock.now(),
    )
    client = TestClient(env.app, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    for bad in (TOO_BIG, 2**63, MAX_ROW_ID + 1, 0, -1):
        r = client.request(method, path.format(id=bad), headers=auth)
        assert r.status_code == 422, (bad, r.status_code, r.text[:200])
        if path.startswith("/api/"):
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["status"] == 422
    # The largest id is a valid id: it names no row.
    r = client.request(method, path.format(id=MAX_ROW_ID), headers=auth)
    assert r.status_code < 500, r.text[:200]
