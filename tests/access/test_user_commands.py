"""``tongban user add / list / disable / reset-password / enroll-totp`` on a node database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from tongban.access import credentials, service
from tongban.access.domain import AccountLocked
from tongban.access.settings import AccessSettings
from tongban.cli import app
from tongban.core.db import Database
from tongban.core.errors import Unauthenticated

FAST_ENV = {
    "TONGBAN_ACCESS_ARGON2_TIME_COST": "1",
    "TONGBAN_ACCESS_ARGON2_MEMORY_KIB": "1024",
    "TONGBAN_ACCESS_ARGON2_PARALLELISM": "1",
    "TONGBAN_SECRET_KEY": "cli-test-secret",
}
SETTINGS = AccessSettings(argon2_time_cost=1, argon2_memory_kib=1024, argon2_parallelism=1)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=FAST_ENV)
    return result.exit_code, result.output


def test_add_list_disable_reset(database: Database) -> None:
    url = database.url
    code, out = run(
        "user",
        "add",
        "wang.clerk",
        "--role",
        "window_clerk",
        "--name",
        "王窗口",
        "--division",
        "110105",
        "--office",
        "OFF-A",
        "--password",
        "first-pass-1",
        "--db",
        url,
    )
    assert code == 0, out
    code, out = run(
        "user",
        "add",
        "11010519491231002X",
        "--role",
        "citizen",
        "--name",
        "张三",
        "--person",
        "p-1",
        "--password",
        "first-pass-1",
        "--db",
        url,
    )
    assert code == 0, out
    code, out = run(
        "user",
        "add",
        "weak",
        "--role",
        "window_clerk",
        "--name",
        "x",
        "--division",
        "110105",
        "--office",
        "O",
        "--password",
        "short",
        "--db",
        url,
    )
    assert code == 1 and "10 characters" in out
    code, out = run("user", "list", "--db", url)
    assert code == 0 and "wang.clerk" in out and "(citizen)" in out and "11010519491231002X" not in out

    clerk = service.get_user(database, login="wang.clerk")
    now = datetime.now(UTC)
    for _ in range(10):
        with pytest.raises((Unauthenticated, AccountLocked)):
            service.check_password(
                database, settings=SETTINGS, login="wang.clerk", password="wrong-pass-1", now=now
            )
    assert service.get_user(database, user_id=clerk.id).locked
    code, out = run("user", "reset-password", "wang.clerk", "--password", "second-pass-2", "--db", url)
    assert code == 0, out
    assert not service.get_user(database, user_id=clerk.id).locked
    assert (
        service.check_password(
            database, settings=SETTINGS, login="wang.clerk", password="second-pass-2", now=now
        ).id
        == clerk.id
    )

    code, out = run("user", "disable", "wang.clerk", "--db", url)
    assert code == 0 and service.get_user(database, user_id=clerk.id).disabled
    code, out = run("user", "disable", "11010519491231002X", "--db", url)
    assert code == 0, out
    citizen = service.get_user(
        database, login=credentials.citizen_login(b"cli-test-secret", "11010519491231002X")
    )
    assert citizen.disabled
    code, out = run("user", "disable", "wang.clerk", "--enable", "--db", url)
    assert code == 0 and not service.get_user(database, user_id=clerk.id).disabled
    code, out = run("user", "disable", "nobody", "--db", url)
    assert code == 1


def test_enroll_totp_at_the_console(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(
        "user",
        "add",
        "li.head",
        "--role",
        "office_head",
        "--name",
        "李",
        "--division",
        "110105",
        "--office",
        "OFF-A",
        "--password",
        "first-pass-1",
        "--db",
        database.url,
    )
    assert code == 0, out
    user = service.get_user(database, login="li.head")
    secret = service.start_totp_enrolment(database, user_id=user.id, key=b"cli-test-secret")
    good = credentials.totp_code(secret, datetime.now(UTC))
    code, out = run(
        "user",
        "enroll-totp",
        "li.head",
        "--code",
        "123456" if good != "123456" else "654321",
        "--db",
        database.url,
    )
    assert code == 1 and not service.get_user(database, user_id=user.id).totp_enrolled
    code, out = run("user", "enroll-totp", "li.head", "--code", good, "--db", database.url)
    assert code == 0, out
    assert secret in out.replace(" ", "")
    assert service.get_user(database, user_id=user.id).totp_enrolled


def test_a_data_dir_of_several_nodes_needs_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tongban.core.node import NodeEntry, write_manifest

    write_manifest(tmp_path, [NodeEntry("110000", "北京"), NodeEntry("310000", "上海")])
    code, out = run("user", "list", "--data-dir", str(tmp_path))
    assert code == 2 and "--node" in out
