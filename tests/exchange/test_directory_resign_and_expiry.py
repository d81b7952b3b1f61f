"""The directory is valid for a limited time: `directory resign` gives it a new serial and validity with the same
content (nodes accept it, also after the old one expired past its grace), `directory show` prints the days
left, and `exchange status` and the exchange page warn when fewer than `directory_warn_days` remain."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.access.helpers import FAST
from tests.exchange.test_operator_page_and_embedded_runtime import _signed_in
from typer.testing import CliRunner

from tongban.access.domain import Role
from tongban.cli import app
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeEntry, write_manifest
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.directory import DirectoryHolder, DirectoryRefused
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import exchange_of
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime


def _invoke(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def _nation(data_dir: Path, issued: datetime) -> None:
    directory_admin.init(data_dir, now=issued)
    for code, name in (("110000", "北京市"), ("310000", "上海市")):
        directory_admin.add_node(data_dir, code=code, name=name, now=issued)


def test_resign_keeps_the_content_with_a_new_serial_and_validity(tmp_path: Path) -> None:
    d = str(tmp_path)
    _invoke("directory", "init", "--data-dir", d)
    _invoke("directory", "add-node", "--code", "110000", "--name", "北京市", "--data-dir", d)
    assert "serial 2" in _invoke("directory", "show", "--data-dir", d)[0]
    out, _ = _invoke("directory", "resign", "--validity-days", "3", "--data-dir", d)
    assert "serial 3" in out and "(3.0 days left)" in out
    shown, _ = _invoke("directory", "show", "--data-dir", d)
    assert "serial 3" in shown and "(3.0 days left)" in shown
    before = json.loads(_invoke("directory", "show", "--json", "--data-dir", d)[0])

    out, _ = _invoke("directory", "resign", "--validity-days", "30", "--data-dir", d)
    assert "serial 4" in out and "(30.0 days left)" in out
    after = json.loads(_invoke("directory", "show", "--json", "--data-dir", d)[0])
    assert after["serial"] == before["serial"] + 1
    assert after["nodes"] == before["nodes"]  # same content
    assert datetime.fromisoformat(after["expires_at"]) - datetime.now(UTC) > timedelta(days=29.9)
    assert "(30.0 days left)" in _invoke("directory", "show", "--data-dir", d)[0]

    bad = CliRunner().invoke(app, ["directory", "resign", "--validity-days", "0", "--data-dir", d])
    assert bad.exit_code == 1


def test_a_node_accepts_the_resigned_directory_after_the_old_one_expired(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _nation(tmp_path, now - timedelta(days=40))  # valid 30 days, grace 3: refused now
    holder = DirectoryHolder(tmp_path, grace=timedelta(days=3), clock=SystemClock())
    with pytest.raises(DirectoryRefused):
        holder.refresh()
    old = directory_admin.show(tmp_path, now=now)
    assert old.days_left(now) == pytest.approx(-10, abs=0.01)
    assert "days ago" in _invoke("directory", "show", "--data-dir", str(tmp_path))[0]

    directory_admin.resign(tmp_path, now=now)
    accepted = holder.refresh()
    assert accepted.serial == old.serial + 1 and accepted.nodes == old.nodes
    assert accepted.days_left(now) == pytest.approx(30, abs=0.01)


def test_exchange_status_warns_when_the_directory_expires_soon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = str(tmp_path)
    _nation(tmp_path, datetime.now(UTC) - timedelta(days=25))  # 5 days left
    url = f"sqlite:///{tmp_path / 'bj.sqlite3'}"
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    status = ("exchange", "status", "--node", "110000", "--db", url, "--data-dir", d)
    _, warned = _invoke(*status)
    assert "expires" in warned and "(5.0 days left)" in warned and "tongban directory resign" in warned
    as_json, warned_json = _invoke(*status, "--json")
    assert json.loads(as_json) == {"110000": []} and "tongban directory resign" in warned_json

    _invoke("directory", "resign", "--data-dir", d)
    assert _invoke(*status)[1] == ""  # 30 days left: more than the 7 of the default
    monkeypatch.setenv("TONGBAN_EXCHANGE_DIRECTORY_WARN_DAYS", "45")
    assert "(30.0 days left)" in _invoke(*status)[1]


def test_the_exchange_page_warns_when_the_directory_expires_soon(tmp_path: Path) -> None:
    _nation(tmp_path, datetime.now(UTC) - timedelta(days=27))  # 3 days left
    write_manifest(tmp_path, [NodeEntry("110000", "北京市"), NodeEntry("310000", "上海市")])
    runtime = build_runtime(Settings(data_dir=tmp_path, secret_key="test", nats_url=None))
    runner = runtime.extras["exchange"]
    assert isinstance(runner, ExchangeRunner)
    try:
        runtime.extras["access_settings"] = FAST
        web = create_app(runtime)
        client, _ = _signed_in(web, runtime.nodes["110000"].db, Role.PROVINCIAL_ADMIN, "admin.d")
        page = client.get("/exchange?node=110000&lang=en")
        assert page.status_code == 200
        assert 'id="directory-validity" class="flash err" role="alert"' in page.text
        assert "expires in 3.0 days" in page.text
        zh = client.get("/exchange?node=110000&lang=zh_CN")
        assert "将在 3.0 天后过期" in zh.text

        directory_admin.resign(tmp_path, now=datetime.now(UTC))
        exchange_of(runtime.nodes["110000"]).directory.refresh()  # as its pump does every minute
        page = client.get("/exchange?node=110000&lang=en")
        assert 'role="alert"' not in page.text.split('id="directory-validity"')[1].split(">")[0]
        assert "valid for 30.0 more days" in page.text
    finally:
        runner.stop()
        for node in runtime.nodes.values():
            node.db.dispose()
