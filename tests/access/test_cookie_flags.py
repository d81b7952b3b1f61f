"""Session cookies are HttpOnly, SameSite=Lax, expire with the session, and Secure except for http on localhost."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.access.settings import AccessSettings
from tongban.core.db import Database

from .helpers import FAST, PASSWORD, make_env


@pytest.mark.parametrize(
    ("configured", "base_url", "secure"),
    [
        (None, "http://testserver", True),
        (None, "https://tongban.example", True),
        (None, "http://127.0.0.1:8000", False),
        (None, "http://localhost:8000", False),
        (True, "http://127.0.0.1:8000", True),
        (False, "http://testserver", False),
    ],
)
def test_cookie_flags(
    database: Database, tmp_path: Path, configured: bool | None, base_url: str, secure: bool
) -> None:
    settings = AccessSettings(**{**FAST.model_dump(), "cookie_secure": configured})
    env = make_env(database, tmp_path, settings=settings)
    login = credentials.citizen_login(app_secret(env.runtime.settings), "11010519491231002X")
    service.add_user(
        env.db,
        settings=settings,
        now=env.clock.now(),
        actor="t",
        login=login,
        role=Role.CITIZEN,
        display_name="c",
        password=PASSWORD,
        person_ref="p-1",
    )
    client = TestClient(env.app, base_url=base_url, follow_redirects=False)
    page = client.get("/access/sign-in")
    anon_header = page.headers["set-cookie"].lower()
    assert "httponly" in anon_header and "samesite=lax" in anon_header
    assert ("; secure" in anon_header) == secure
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    if not secure or base_url.startswith("https"):
        anon = page.cookies.get(settings.anon_cookie)
    else:  # an http client keeps no Secure cookie: hand it over as a browser on https would send it
        anon = page.headers["set-cookie"].split("=", 1)[1].split(";", 1)[0]
    client.cookies.set(settings.anon_cookie, anon or "")
    r = client.post(
        "/access/sign-in",
        data={"login": "11010519491231002X", "password": PASSWORD, "kind": "citizen", "csrf_token": csrf},
    )
    assert r.status_code == 303, r.text
    header = r.headers["set-cookie"].lower()
    assert header.startswith(settings.session_cookie + "=110000.")
    assert "httponly" in header and "samesite=lax" in header and "path=/" in header
    assert f"max-age={settings.session_ttl_s}" in header
    assert ("; secure" in header) == secure
