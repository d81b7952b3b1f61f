"""API tokens for other systems: hashed at rest, limited to their actions and division, expire, revoke."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tongban.access import credentials, service
from tongban.access.domain import Allow, Deny, Role, Scope, Target, decide
from tongban.core.db import Database

from .helpers import add, make_env, signed_in


def test_a_token_does_only_its_actions_within_its_division(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    token = service.create_api_token(
        env.db,
        name="county stats",
        actions=["registry.person.read", "cases.*.read"],
        scope=Scope.COUNTY,
        division_code="110105",
        actor="admin",
        now=env.clock.now(),
    )
    p = service.principal_for_token(env.db, token=token, node="110000", now=env.clock.now())
    assert p is not None
    assert isinstance(decide(p, "registry.person.read", Target(division_code="110105")), Allow)
    assert isinstance(decide(p, "registry.person.read", Target(division_code="110108")), Deny)
    assert isinstance(decide(p, "cases.task.read", Target(division_code="110105")), Allow)
    assert isinstance(decide(p, "registry.person.update", Target(division_code="110105")), Deny)
    with env.db.engine.connect() as conn:
        stored = [r[0] for r in conn.exec_driver_sql("SELECT token_hash FROM access_api_tokens")]
    assert stored == [credentials.token_digest(token)] and token not in str(stored)


def test_tokens_expire_and_can_be_revoked(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    now = env.clock.now()
    token = service.create_api_token(
        env.db,
        name="t",
        actions=["access.account.self"],
        scope=Scope.PROVINCE,
        division_code="110000",
        actor="admin",
        now=now,
        expires_at=now + timedelta(hours=1),
    )
    client = TestClient(env.app)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/access/me", headers=auth).status_code == 200
    env.clock.advance(timedelta(hours=2))
    assert client.get("/api/v1/access/me", headers=auth).status_code == 401
    other = service.create_api_token(
        env.db,
        name="t2",
        actions=["access.account.self"],
        scope=Scope.PROVINCE,
        division_code="110000",
        actor="admin",
        now=env.clock.now(),
    )
    assert client.get("/api/v1/access/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    service.revoke_api_token(env.db, token_id=2, actor="admin", now=env.clock.now())
    assert client.get("/api/v1/access/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_only_administrators_create_tokens_and_never_wider_than_themselves(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    admin = add(env, Role.PROVINCIAL_ADMIN, "admin", division="110000")
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    client, csrf = signed_in(env, admin)
    h = {"X-CSRF-Token": csrf}
    body = {"name": "sys", "actions": ["registry.person.read"], "scope": "county", "division_code": "110105"}
    made = client.post("/api/v1/access/tokens", json=body, headers=h)
    assert made.status_code == 201 and made.json()["token"].startswith("tbt_")
    wide = client.post(
        "/api/v1/access/tokens", json={**body, "scope": "nation", "division_code": None}, headers=h
    )
    assert wide.status_code == 422
    elsewhere = client.post("/api/v1/access/tokens", json={**body, "division_code": "310101"}, headers=h)
    assert elsewhere.status_code == 422
    client, csrf = signed_in(env, clerk)
    assert client.post("/api/v1/access/tokens", json=body, headers={"X-CSRF-Token": csrf}).status_code == 403
