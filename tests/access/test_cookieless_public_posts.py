"""A request that sends no cookie at all cannot be a cross-site forgery: it reaches public routes without a
CSRF token. Cookie-bearing requests, non-public routes and the sign-in forms still need the token; a form
the middleware parses to find the token leaves no upload file open."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

from fastapi.testclient import TestClient

from tongban.access.domain import Role
from tongban.core.db import Database

from .helpers import PASSWORD, add, anonymous, make_env, signed_in


def test_a_cookieless_client_verifies_papers_without_a_token(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client = TestClient(env.app, follow_redirects=False)
    r = client.post("/api/v1/papers/verify", content=b"not a paper")
    assert r.status_code == 200, r.text
    assert r.json()["status"] != "valid"
    # The HTML form too (a multipart upload from a script), again without cookies.
    client.cookies.clear()
    page = client.post("/verify", files={"file": ("p.txt", b"not a paper", "text/plain")})
    assert page.status_code == 200, page.text


def test_cookie_bearing_requests_still_need_the_token(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = anonymous(env)  # has the anonymous cookie
    refused = client.post("/api/v1/papers/verify", content=b"not a paper")
    assert refused.status_code == 403 and "csrf" in refused.text
    ok = client.post("/api/v1/papers/verify", content=b"not a paper", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200


def test_cookieless_posts_to_other_routes_are_refused(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    add(env, Role.CITIZEN, "someone", person="p-1")
    client = TestClient(env.app, follow_redirects=False)
    # Not public: refused by the CSRF check as before.
    r = client.post("/api/v1/access/tokens", json={"name": "x"})
    assert r.status_code == 403 and "csrf" in r.text
    # Public, but a sign-in would give a cookieless browser the forger's session (login CSRF).
    signin = client.post(
        "/access/sign-in", data={"login": "someone", "password": PASSWORD, "kind": "citizen"}
    )
    assert signin.status_code == 403 and "csrf" in signin.text
    assert env.settings.session_cookie not in signin.cookies


def test_the_middleware_closes_the_uploads_it_parses(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    head = add(env, Role.OFFICE_HEAD, "head")
    client, csrf = signed_in(env, head)
    # Over Starlette's 1 MiB spool limit, so the upload goes to a real temporary file.
    big = b"x" * (1024 * 1024 + 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = client.post("/verify", data={"csrf_token": csrf}, files={"file": ("big.bin", big)})
        gc.collect()
    assert r.status_code == 200, r.text
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    refused = client.post("/verify", data={"csrf_token": "wrong"}, files={"file": ("big.bin", big)})
    gc.collect()
    assert refused.status_code == 403
