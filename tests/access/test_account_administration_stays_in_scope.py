"""Account administration: managers see and manage accounts of their scope and of lower rank only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tongban.access import credentials, service
from tongban.access.domain import AccountLocked, Role
from tongban.access.pages import safe_next
from tongban.access.settings import AccessSettings
from tongban.core.db import Database
from tongban.core.errors import Unauthenticated

from .helpers import FAST, PASSWORD, SECRET, add, make_env, signed_in


def test_an_office_head_manages_only_their_office_and_lower_roles(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    head = add(env, Role.OFFICE_HEAD, "head", office="OFF-A")
    mine = add(env, Role.WINDOW_CLERK, "mine", office="OFF-A")
    theirs = add(env, Role.WINDOW_CLERK, "theirs", office="OFF-B")
    peer = add(env, Role.OFFICE_HEAD, "peer", office="OFF-A")
    client, csrf = signed_in(env, head)
    page = client.get("/access/users").text
    assert "mine" in page and "theirs" not in page
    assert client.post(f"/access/users/{theirs.id}/disable", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/access/users/{peer.id}/disable", data={"csrf_token": csrf}).status_code == 404
    assert client.post(f"/access/users/{mine.id}/disable", data={"csrf_token": csrf}).status_code == 303
    assert service.get_user(env.db, user_id=mine.id).disabled
    form = {
        "login": "new.one", "display_name": "新人", "division_code": "110105", "office_code": "OFF-A",
        "password": "new-one-pass-1", "csrf_token": csrf,
    }  # fmt: skip
    assert client.post("/access/users", data={**form, "role": "office_head"}).status_code == 422
    assert (
        client.post("/access/users", data={**form, "role": "reviewer", "office_code": "OFF-B"}).status_code
        == 422
    )
    assert client.post("/access/users", data={**form, "role": "reviewer"}).status_code == 303
    assert service.get_user(env.db, login="new.one").role is Role.REVIEWER


def test_a_county_supervisor_sees_the_county_not_the_next(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    sup = add(env, Role.COUNTY_SUPERVISOR, "sup", division="110105", office="SUP")
    add(env, Role.WINDOW_CLERK, "here", division="110105", office="X")
    add(env, Role.WINDOW_CLERK, "there", division="110108", office="Y")
    client, _ = signed_in(env, sup)
    logins = {u["login"] for u in client.get("/api/v1/access/users").json()}
    assert logins == {"sup", "here"}


def test_a_reset_makes_the_account_enrol_again(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    head = add(env, Role.OFFICE_HEAD, "head")
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    secret = service.start_totp_enrolment(env.db, user_id=clerk.id, key=SECRET.encode())
    service.check_totp(
        env.db,
        settings=env.settings,
        key=SECRET.encode(),
        user_id=clerk.id,
        code=credentials.totp_code(secret, env.clock.now()),
        now=env.clock.now(),
        actor="t",
    )
    client, csrf = signed_in(env, head)
    r = client.post(
        f"/access/users/{clerk.id}/reset-password", data={"password": "fresh-pass-42", "csrf_token": csrf}
    )
    assert r.status_code == 303
    assert not service.get_user(env.db, user_id=clerk.id).totp_enrolled


def test_wrong_codes_count_towards_the_lock(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    service.start_totp_enrolment(env.db, user_id=clerk.id, key=SECRET.encode())
    for _ in range(10):
        with pytest.raises(Unauthenticated):
            service.check_totp(
                env.db,
                settings=env.settings,
                key=SECRET.encode(),
                user_id=clerk.id,
                code="000000",
                now=env.clock.now(),
                actor="t",
            )
    assert service.get_user(env.db, user_id=clerk.id).locked
    with pytest.raises(AccountLocked):
        service.check_password(
            env.db, settings=env.settings, login="clerk", password=PASSWORD, now=env.clock.now()
        )


def test_a_timed_lock_opens_by_itself(database: Database, tmp_path: Path) -> None:
    timed = AccessSettings(**{**FAST.model_dump(), "lockout_s": 900})
    env = make_env(database, tmp_path, settings=timed)
    add(env, Role.CITIZEN, "c", person="p-1")
    for i in range(10):
        with pytest.raises((Unauthenticated, AccountLocked)):
            service.check_password(
                env.db, settings=timed, login="c", password=f"bad-{i}-pass", now=env.clock.now()
            )
    with pytest.raises(AccountLocked):
        service.check_password(env.db, settings=timed, login="c", password=PASSWORD, now=env.clock.now())
    env.clock.advance(timedelta(seconds=901))
    assert (
        service.check_password(
            env.db, settings=timed, login="c", password=PASSWORD, now=env.clock.now()
        ).login
        == "c"
    )


def test_next_never_leaves_the_site() -> None:
    assert safe_next("/access/users?x=1") == "/access/users?x=1"
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        None,
    ):
        assert safe_next(bad) == "/"
