"""A real ``tongban serve`` stopped normally (SIGTERM) seals its audit rows and commits its access records."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.e2e.conftest import LiveServer
from tongban.access import service
from tongban.access.domain import Role
from tongban.access.settings import AccessSettings
from tongban.audit.verify import verify_chain
from tongban.cli import app
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest

FAST = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)


def test_stop_seals_pending_audit_rows(tmp_path: Path) -> None:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市")])
    db = Database(f"sqlite:///{tmp_path / '110000.sqlite3'}")
    migrate.upgrade(db)
    service.add_user(
        db,
        settings=FAST,
        now=SystemClock().now(),
        actor="t",
        login="c1",
        role=Role.CITIZEN,
        display_name="c",
        password="citizen-pass-1",
        person_ref="p-1",
    )
    env = {
        "TONGBAN_SECRET_KEY": "stop-test",
        "TONGBAN_AUDIT_SEAL_INTERVAL_S": "3600",  # only the stop can seal
        "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
        "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
        "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    }
    server = LiveServer(tmp_path, extra_env=env)
    try:
        with httpx.Client(base_url=server.url) as client:
            page = client.get("/access/sign-in")
            m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert m
            r = client.post(
                "/access/sign-in",
                data={"login": "c1", "password": "citizen-pass-1", "kind": "staff", "csrf_token": m.group(1)},
            )
            assert r.status_code == 401  # a citizen on the staff form is refused
            # Ten failures lock the account: an audit row written while the server runs, after its first
            # sealing pass; only the stop can seal it.
            for i in range(10):
                client.post(
                    "/access/sign-in",
                    data={
                        "login": "c1",
                        "password": f"wrong-{i}-pass",
                        "kind": "staff",
                        "csrf_token": m.group(1),
                    },
                )
    finally:
        server.stop()
    with db.session() as s:
        report = verify_chain(s)
    assert report.ok and report.pending == 0 and report.sealed >= 2  # user created, then locked
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0 and "0 pending" in result.output
    db.dispose()
