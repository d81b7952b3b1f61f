"""A form post without the CSRF token (or with a wrong one) is refused before any route runs."""

from __future__ import annotations

from pathlib import Path

from tongban.access.domain import Role
from tongban.core.db import Database

from .helpers import PASSWORD, add, anonymous, make_env, signed_in


def test_sign_in_form_without_token_is_refused(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    add(env, Role.CITIZEN, "ignored", person="p-1")
    client, csrf = anonymous(env)
    form = {"login": "someone", "password": PASSWORD, "kind": "staff"}
    refused = client.post("/access/sign-in", data=form)
    assert refused.status_code == 403
    assert "csrf" in refused.text
    wrong = client.post("/access/sign-in", data={**form, "csrf_token": "x" * 64})
    assert wrong.status_code == 403
    accepted = client.post("/access/sign-in", data={**form, "csrf_token": csrf})
    assert accepted.status_code == 401  # reached the route: wrong name, not a CSRF refusal


def test_a_first_visit_without_cookie_cannot_post(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    from fastapi.testclient import TestClient

    client = TestClient(env.app, follow_redirects=False)
    page = client.get("/access/sign-in")
    assert page.status_code == 200
    assert env.settings.anon_cookie in page.cookies
    assert 'name="csrf_token"' in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"


def test_signed_in_form_posts_need_the_session_token(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    head = add(env, Role.OFFICE_HEAD, "head")
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    client, csrf = signed_in(env, head)
    url = f"/access/users/{clerk.id}/disable"
    assert client.post(url).status_code == 403
    assert client.post(url, data={"csrf_token": "nope"}).status_code == 403
    assert client.post(url, headers={"X-CSRF-Token": "nope"}).status_code == 403
    # Another session's token does not work either.
    _, other_csrf = signed_in(env, head)
    assert client.post(url, data={"csrf_token": other_csrf}).status_code == 403
    from tongban.access import service

    assert not service.get_user(env.db, user_id=clerk.id).disabled
    done = client.post(url, data={"csrf_token": csrf})
    assert done.status_code == 303
    assert service.get_user(env.db, user_id=clerk.id).disabled
    # htmx sends it as a header (hx-headers)
    again = client.post(url, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 303
    assert not service.get_user(env.db, user_id=clerk.id).disabled


def test_api_tokens_need_no_csrf_token(database: Database, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tongban.access import service
    from tongban.access.domain import Scope

    env = make_env(database, tmp_path)
    token = service.create_api_token(
        env.db,
        name="stats",
        actions=["access.account.self"],
        scope=Scope.PROVINCE,
        division_code="110105",
        actor="test",
        now=env.clock.now(),
    )
    client = TestClient(env.app)
    me = client.get("/api/v1/access/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["kind"] == "system"
    assert client.get("/api/v1/access/me", headers={"Authorization": "Bearer tbt_wrong"}).status_code == 401
    assert client.get("/api/v1/access/users", headers={"Authorization": f"Bearer {token}"}).status_code == 403
