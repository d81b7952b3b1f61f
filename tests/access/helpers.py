"""Helpers of the access tests: an app over one migrated node, accounts of every role, signed-in clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tongban.access import service
from tongban.access.domain import STAFF_ROLES, Role
from tongban.access.middleware import anon_csrf, session_cookie_value
from tongban.access.settings import AccessSettings
from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.web.app import Runtime, create_app

NODE = "110000"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PASSWORD = "correct-horse-42"
SECRET = "test-secret-key-not-for-production"

FAST = AccessSettings(
    cookie_secure=False,
    argon2_time_cost=1,
    argon2_memory_kib=1024,
    argon2_parallelism=1,
    flusher_enabled=False,
    view_flush_interval_s=0.05,
)


@dataclass
class Env:
    db: Database
    node: NodeContext
    runtime: Runtime
    app: FastAPI
    clock: FixedClock
    settings: AccessSettings


def make_env(
    db: Database, tmp_path: Path, *, settings: AccessSettings = FAST, app: FastAPI | None = None
) -> Env:
    core = Settings(data_dir=tmp_path, secret_key=SECRET)
    clock = FixedClock(T0)
    node = NodeContext(code=NODE, name="北京", db=db, settings=core, clock=clock)
    runtime = Runtime(settings=core, nodes={NODE: node}, extras={"access_settings": settings})
    return Env(db, node, runtime, app or create_app(runtime), clock, settings)


def add(
    env: Env,
    role: Role,
    login: str,
    *,
    division: str = "110105",
    office: str = "OFF-A",
    person: str | None = None,
    enterprise: str | None = None,
) -> service.UserInfo:
    staff = role in STAFF_ROLES
    return service.add_user(
        env.db,
        settings=env.settings,
        now=env.clock.now(),
        actor="test",
        login=login,
        role=role,
        display_name=f"{role.value} {login}",
        password=PASSWORD,
        division_code=division if staff else None,
        office_code=office if staff else None,
        person_ref=person if role is Role.CITIZEN else None,
        enterprise_id=enterprise if role is Role.ENTERPRISE_USER else None,
    )


def signed_in(env: Env, user: service.UserInfo) -> tuple[TestClient, str]:
    """A client with an active session of ``user`` (second factor taken as done) and its CSRF token."""
    new = service.open_session(
        env.db, settings=env.settings, user_id=user.id, stage=service.STAGE_ACTIVE, now=env.clock.now()
    )
    client = TestClient(env.app, follow_redirects=False)
    client.cookies.set(env.settings.session_cookie, session_cookie_value(NODE, new.token))
    return client, new.csrf_token


def anonymous(env: Env) -> tuple[TestClient, str]:
    client = TestClient(env.app, follow_redirects=False)
    client.cookies.set(env.settings.anon_cookie, "anon-test")
    return client, anon_csrf(SECRET.encode(), "anon-test")
