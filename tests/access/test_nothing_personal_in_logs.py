"""Sign-ins, failures, lock-outs, reads of records and access records log nothing personal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.access.web import view_buffer
from tongban.core.db import Database

from ..registry.registry_helpers import new_id
from .helpers import PASSWORD, add, anonymous, make_env, signed_in

NAME = "欧阳明"


def test_logs_carry_no_id_numbers_names_or_passwords(
    database: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = make_env(database, tmp_path)
    rev = add(env, Role.REVIEWER, "rev")
    client, csrf = signed_in(env, rev)
    h = {"X-CSRF-Token": csrf}
    client.post(
        "/api/v1/registry/households",
        json={"number": "H1", "kind": "family", "address": "朝阳区测试路1号", "division_code": "110105"},
        headers=h,
    )
    person = {
        "household_number": "H1", "relation": "head", "event": "moved_in", "name": NAME, "sex": "male",
        "birth_date": "1990-05-17", "ethnicity": "01", "birthplace": "110105", "id_number": new_id(),
        "on_date": "2020-01-01",
    }  # fmt: skip
    pid = client.post("/api/v1/registry/persons", json=person, headers=h).json()["person_id"]
    client.post("/api/v1/registry/persons/lookup", json={"id_number": new_id()}, headers=h)
    client.get(f"/api/v1/registry/persons/{pid}")
    client.get("/api/v1/registry/search", params={"q": "ouyang"})

    login = credentials.citizen_login(app_secret(env.runtime.settings), new_id())
    service.add_user(
        env.db,
        settings=env.settings,
        now=env.clock.now(),
        actor="t",
        login=login,
        role=Role.CITIZEN,
        display_name=NAME,
        password=PASSWORD,
        person_ref=str(pid),
    )
    anon, acsrf = anonymous(env)
    for password in ["wrong-pass-0"] * 11 + [PASSWORD]:
        anon.post(
            "/access/sign-in",
            data={"login": new_id(), "password": password, "kind": "citizen", "csrf_token": acsrf},
        )
    view_buffer(env.node).flush()

    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records, "the scenario logged nothing at all: the check would prove nothing"
    for secret in (new_id(), new_id()[6:14], NAME, PASSWORD, "wrong-pass-0"):
        assert secret not in text, secret
