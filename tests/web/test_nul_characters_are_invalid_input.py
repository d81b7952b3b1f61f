"""A NUL character in a path, a query or a JSON body is invalid input (422), not a server error.

Found by the schemathesis run on PostgreSQL: text fields there cannot hold NUL, the driver raised DataError, and
the access-record and case lists, the registry search, lookup and person creation answered 500.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.access.helpers import make_env
from tongban.access import service
from tongban.access.domain import Scope
from tongban.core.db import Database


def test_nul_anywhere_in_the_request_is_refused_before_any_query(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    token = service.create_api_token(
        env.db,
        name="nul",
        actions=["*.*.*"],
        scope=Scope.PROVINCE,
        division_code="110000",
        actor="test",
        now=env.clock.now(),
    )
    client = TestClient(env.app, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    refused = [
        client.get("/api/v1/cases", params={"matter": "a\x00"}, headers=auth),
        client.get("/api/v1/access/views", params={"viewer": "\x00"}, headers=auth),
        client.get("/api/v1/registry/search", params={"q": "王\x00"}, headers=auth),
        client.get("/api/v1/registry/search", params={"q\x00": "王"}, headers=auth),
        client.post("/api/v1/registry/persons/lookup", content=b'{"id_number": "1\\u0000"}', headers=auth),
        client.post("/api/v1/registry/persons", json={"name": "\x00"}, headers=auth),
        client.get("/access/views", params={"viewer": "\x00"}, headers=auth),
        client.get("/cases/queue", params={"matter": "\x00"}, headers=auth),
        client.post("/access/users", data={"login": "a\x00b"}, headers=auth),
    ]
    for r in refused:
        assert r.status_code == 422, (r.request.url, r.status_code, r.text[:200])
        if r.request.url.path.startswith("/api/"):
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["status"] == 422 and r.json()["code"] == "invalid-input"
    # An escaped backslash before "u0000" is text, not NUL; and requests without NUL are answered as before.
    r = client.post("/api/v1/registry/persons/lookup", content=b'{"id_number": "1\\\\u0000"}', headers=auth)
    assert r.status_code == 422 and "NUL" not in r.text
    assert client.get("/api/v1/cases", params={"matter": "a"}, headers=auth).status_code == 200
    assert client.get("/api/v1/registry/search", params={"q": "王"}, headers=auth).status_code == 200
