"""The migration API at the destination: a clerk accepts (201, the policy decision with it), only a reviewer
approves (the permit leaves in the outbox), an illegal step is a 409 problem document that changes nothing,
and a withdrawal after the permit sends the signed abandon. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.access.helpers import add, make_env, signed_in
from tests.exchange.exchange_support import fast_settings
from tests.migration.mig_support import LONER, make_nation

import tongban.migration.service  # noqa: F401
from tongban.access.domain import Role
from tongban.core.db import Database
from tongban.exchange.directory import DirectoryHolder
from tongban.exchange.keys import node_key_provider
from tongban.exchange.service import NodeExchange
from tongban.exchange.tables import OutboxRow
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.registry import service as registry


def _post(client: TestClient, csrf: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
    return client.post(path, json=body or {}, headers={"X-CSRF-Token": csrf})


def test_accept_approve_refuse_an_illegal_step_and_withdraw(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    env.clock.set(datetime.now(UTC))
    data_dir = make_nation(tmp_path / "nation")
    holder = DirectoryHolder(data_dir, grace=timedelta(seconds=60), clock=env.node.clock)
    env.node.services["exchange"] = NodeExchange(
        node=env.node, keys=node_key_provider(data_dir, "110000"), directory=holder, settings=fast_settings()
    )
    env.node.services[KEYS_SERVICE] = DirectorySignerSource(holder, data_dir)
    registry.create_household(
        env.node,
        actor="test",
        number="D1",
        kind="family",
        address="北京市朝阳区测试路1号",
        division_code="110105",
        on_date=date(2020, 1, 1),
    )
    clerk, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.m"))
    reviewer, rcsrf = signed_in(env, add(env, Role.REVIEWER, "rev.m"))

    r = clerk.post(
        "/api/v1/migrations",
        json={
            "matter": "MIG-JOB",
            "id_number": LONER,
            "name": "测试丁",
            "phone": "13800000000",
            "household_number": "D1",
            "relation": "head",
            "origin_address": "上海市徐汇区测试路2号",
            "origin": "310000",  # from the household booklet: no exchange runs here to ask the locator
            "commitment_signed": True,
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    number = made["number"]
    assert (made["state"], made["origin"], made["routed_by"], made["eligible"]) == (
        "accepted",
        "310000",
        "given",
        True,
    )
    # The same person cannot have a second migration open here.
    r = clerk.post(
        "/api/v1/migrations",
        json={
            "matter": "MIG-JOB",
            "id_number": LONER,
            "name": "测试丁",
            "household_number": "D1",
            "relation": "head",
            "origin_address": "x",
            "commitment_signed": True,
        },
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 409 and number in r.json()["detail"]

    r = _post(clerk, csrf, f"/api/v1/migrations/{number}/approve")
    assert r.status_code == 403
    r = _post(reviewer, rcsrf, f"/api/v1/migrations/{number}/approve")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "permit_sent" and r.json()["permit_number"]

    r = _post(clerk, csrf, f"/api/v1/migrations/{number}/move-in")
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert clerk.get(f"/api/v1/migrations/{number}").json()["state"] == "permit_sent"

    r = _post(clerk, csrf, f"/api/v1/migrations/{number}/withdraw", {"note": "不迁了"})
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    with env.db.session() as s:
        sent = s.scalars(
            select(OutboxRow.type).where(OutboxRow.case_ref == number).order_by(OutboxRow.created_at)
        )
        assert list(sent) == ["mig.permit.v1", "mig.abandon.v1"]
