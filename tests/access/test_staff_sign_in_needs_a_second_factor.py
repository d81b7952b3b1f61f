"""Staff sign in with a password and TOTP, enrolling it first (QR code as inline SVG); citizens by ID number."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.core.db import Database

from .helpers import PASSWORD, SECRET, add, anonymous, make_env


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field in the form"
    return m.group(1)


def test_enrol_then_sign_in_with_a_code(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    client, csrf = anonymous(env)
    r = client.post(
        "/access/sign-in",
        data={
            "login": "clerk",
            "password": PASSWORD,
            "kind": "staff",
            "csrf_token": csrf,
            "next": "/access/users",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/access/sign-in/enrol")
    cookie = r.cookies[env.settings.session_cookie]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=lax" in r.headers["set-cookie"].lower()
    # Half signed-in: no protected page yet.
    assert client.get("/api/v1/access/me").status_code == 401
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert "<svg" in page.text and "otpauth" not in page.text.split("<svg")[0]
    secret = service.pending_totp_secret(env.db, user_id=clerk.id, key=SECRET.encode())
    assert secret is not None and secret[:4] in page.text
    csrf2 = _csrf(page.text)
    bad = client.post(
        "/access/sign-in/enrol", data={"code": "000000", "csrf_token": csrf2, "next": "/access/users"}
    )
    assert bad.status_code == 401
    code = credentials.totp_code(secret, env.clock.now())
    ok = client.post(
        "/access/sign-in/enrol", data={"code": code, "csrf_token": csrf2, "next": "/access/users"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/access/users"
    assert ok.cookies[env.settings.session_cookie] != cookie  # a new session id after sign-in
    me = client.get("/api/v1/access/me")
    assert me.status_code == 200 and me.json()["display_name"] == clerk.display_name
    assert service.get_user(env.db, user_id=clerk.id).totp_enrolled

    # Next time: password, then the code; a code is accepted only once.
    client2, csrf = anonymous(env)
    r = client2.post(
        "/access/sign-in", data={"login": "clerk", "password": PASSWORD, "kind": "staff", "csrf_token": csrf}
    )
    assert r.headers["location"].startswith("/access/sign-in/totp")
    page = client2.get(r.headers["location"])
    csrf3 = _csrf(page.text)
    replay = client2.post("/access/sign-in/totp", data={"code": code, "csrf_token": csrf3})
    assert replay.status_code == 401, replay.text
    env.clock.advance(timedelta(seconds=30))
    fresh = credentials.totp_code(secret, env.clock.now())
    done = client2.post("/access/sign-in/totp", data={"code": fresh, "csrf_token": csrf3})
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client2.get("/api/v1/access/me").status_code == 200
    # Sign out ends the session on the server.
    csrf4 = _csrf(client2.get("/access/sign-in").text)
    assert client2.post("/access/sign-out", data={"csrf_token": csrf4}).status_code == 303
    assert client2.get("/api/v1/access/me").status_code == 401


def test_citizens_sign_in_with_their_id_number(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    login = credentials.citizen_login(app_secret(env.runtime.settings), "11010519491231002X")
    service.add_user(
        env.db,
        settings=env.settings,
        now=env.clock.now(),
        actor="test",
        login=login,
        role=Role.CITIZEN,
        display_name="张三",
        password=PASSWORD,
        person_ref="p-1",
    )
    client, csrf = anonymous(env)
    r = client.post(
        "/access/sign-in",
        data={"login": "11010519491231002x", "password": PASSWORD, "kind": "citizen", "csrf_token": csrf},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    me = client.get("/api/v1/access/me").json()
    assert me["kind"] == "citizen"
    # The users table holds no ID number.
    with env.db.engine.connect() as conn:
        dump = " ".join(str(v) for row in conn.exec_driver_sql("SELECT * FROM access_users") for v in row)
    assert "11010519491231002X" not in dump.upper()
    # A citizen cannot use the staff form, nor staff the citizen form.
    client, csrf = anonymous(env)
    assert (
        client.post(
            "/access/sign-in",
            data={"login": login, "password": PASSWORD, "kind": "staff", "csrf_token": csrf},
        ).status_code
        == 401
    )


def test_sessions_expire(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    citizen = add(env, Role.CITIZEN, "c1", person="p-1")
    from .helpers import signed_in

    client, _ = signed_in(env, citizen)
    assert client.get("/api/v1/access/me").status_code == 200
    env.clock.advance(timedelta(seconds=env.settings.session_ttl_s + 1))
    assert client.get("/api/v1/access/me").status_code == 401


def test_a_disabled_account_loses_its_sessions(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    citizen = add(env, Role.CITIZEN, "c1", person="p-1")
    from .helpers import signed_in

    client, _ = signed_in(env, citizen)
    service.set_disabled(env.db, user_id=citizen.id, disabled=True, actor="admin", now=env.clock.now())
    assert client.get("/api/v1/access/me").status_code == 401


def test_second_factor_secrets_are_encrypted_at_rest(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    secret = service.start_totp_enrolment(env.db, user_id=clerk.id, key=SECRET.encode())
    with env.db.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT totp_secret FROM access_users").scalar_one()
    assert stored.startswith("v1:") and secret not in stored
    assert service.pending_totp_secret(env.db, user_id=clerk.id, key=SECRET.encode()) == secret
    import pytest
    from cryptography.exceptions import InvalidTag

    with pytest.raises(InvalidTag):
        service.pending_totp_secret(env.db, user_id=clerk.id, key=b"another node's key")
    # Bound to the account: copied onto another account it does not open.
    assert credentials.open_totp_secret(SECRET.encode(), stored, user_id=clerk.id) == secret
    with pytest.raises(InvalidTag):
        credentials.open_totp_secret(SECRET.encode(), stored, user_id=clerk.id + 1)
