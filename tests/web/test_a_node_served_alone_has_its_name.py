"""A node served alone (``tongban serve --node CODE --db URL``) is named as the signed directory names it, as
when it is served embedded: its acceptance slips and pages say 北京市, not 110000."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tongban.core.node import NodeEntry, write_manifest
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.web.runtime import single_node


def test_the_directory_names_a_node_served_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert single_node(settings, "110000", "sqlite:///x.sqlite3") == NodeEntry(
        "110000", "110000", "sqlite:///x.sqlite3"
    )  # no directory: the code
    now = datetime.now(UTC) - timedelta(hours=1)
    directory_admin.init(tmp_path, now=now)
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=now)
    assert single_node(settings, "110000", None).name == "北京市"
    assert single_node(settings, "310000", None).name == "310000"  # not in the directory
    # A data dir's manifest names its nodes first.
    write_manifest(tmp_path, [NodeEntry("110000", "北京")])
    assert single_node(settings, "110000", None).name == "北京"


def test_a_directory_that_does_not_verify_names_nothing(tmp_path: Path) -> None:
    now = datetime.now(UTC) - timedelta(hours=1)
    directory_admin.init(tmp_path, now=now)
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=now)
    signed = tmp_path / "directory.signed"
    signed.write_bytes(signed.read_bytes().replace("北京市".encode(), "南京市".encode()))
    assert single_node(Settings(data_dir=tmp_path), "110000", None).name == "110000"
