"""The tenth failed sign-in locks the account; an administrator's reset unlocks it; attempts are rate limited."""

from __future__ import annotations

from pathlib import Path

import pytest

from tongban.access import service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.audit.tables import AuditRow
from tongban.core.db import Database
from tongban.core.errors import Unauthenticated

from .helpers import FAST, PASSWORD, add, anonymous, make_env


def _try(client, csrf: str, login: str, password: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/access/sign-in", data={"login": login, "password": password, "kind": "staff", "csrf_token": csrf}
    )


def test_tenth_failure_locks_even_the_right_password(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    user = add(env, Role.WINDOW_CLERK, "clerk")
    client, csrf = anonymous(env)
    for i in range(9):
        r = _try(client, csrf, "clerk", f"wrong-password-{i}")
        assert r.status_code == 401, i
    assert not service.get_user(env.db, user_id=user.id).locked
    tenth = _try(client, csrf, "clerk", "wrong-password-9")
    assert tenth.status_code == 403
    assert service.get_user(env.db, user_id=user.id).locked
    right = _try(client, csrf, "clerk", PASSWORD)
    assert right.status_code == 403
    assert "tongban_session" not in right.cookies
    with env.db.session() as s:
        actions = [r.action for r in s.query(AuditRow).all()]
    assert "access.user.lock" in actions
    service.reset_password(
        env.db,
        settings=env.settings,
        user_id=user.id,
        password="another-pass-77",
        actor="admin",
        now=env.clock.now(),
    )
    ok = _try(client, csrf, "clerk", "another-pass-77")
    assert ok.status_code == 303
    assert ok.headers["location"].startswith("/access/sign-in/enrol")


def test_a_success_resets_the_count(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    user = add(env, Role.CITIZEN, "c", person="p-1")
    for _ in range(9):
        with pytest.raises(Unauthenticated):
            service.check_password(
                env.db, settings=env.settings, login="c", password="bad-pass-123", now=env.clock.now()
            )
    service.check_password(env.db, settings=env.settings, login="c", password=PASSWORD, now=env.clock.now())
    assert service.get_user(env.db, user_id=user.id).failed_attempts == 0


def test_sign_in_attempts_are_rate_limited(database: Database, tmp_path: Path) -> None:
    env = make_env(
        database, tmp_path, settings=AccessSettings(**{**FAST.model_dump(), "rate_limit_attempts": 3})
    )
    add(env, Role.WINDOW_CLERK, "clerk")
    client, csrf = anonymous(env)
    codes = [_try(client, csrf, "nobody", "whatever-123").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    # Even the right password waits out the window.
    assert _try(client, csrf, "clerk", PASSWORD).status_code == 429
