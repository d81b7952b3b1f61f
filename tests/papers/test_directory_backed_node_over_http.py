"""A node whose data dir has the national directory issues with the directory's paper key and verifies with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, migration_facts

from tongban.core.clock import utcnow
from tongban.core.node import NodeEntry, write_manifest
from tongban.exchange import directory_admin
from tongban.exchange.directory import DIRECTORY_FILE, Directory, split_blob
from tongban.papers.runtime import RESOLVER
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    earlier = utcnow() - timedelta(minutes=5)
    directory_admin.init(tmp_path, now=earlier)
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=earlier)
    write_manifest(tmp_path, [NodeEntry("110000", "北京市")])
    runtime = build_runtime(test_settings(tmp_path))
    try:
        yield TestClient(create_app(runtime))
    finally:
        runner = runtime.extras.get("exchange")
        if runner is not None:
            runner.stop()
        for node in runtime.nodes.values():
            node.db.dispose()


def test_issue_and_verify_with_the_directory_key(client: TestClient, tmp_path: Path) -> None:
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
    }
    issued = client.post("/api/v1/papers", json=body, headers={"x-tongban-node": "110000"})
    assert issued.status_code == 201, issued.text
    key_id = issued.json()["signed"]["signature"]["key_id"]
    directory = Directory.parse(split_blob((tmp_path / DIRECTORY_FILE).read_bytes()).payload)
    node = directory.node("110000")
    assert node is not None
    assert key_id in {k.key_id for k in node.keys if k.purpose == "papers"}
    assert not (tmp_path / "paper-keys").exists()  # no local stand-in keys when the directory is there
    assert type(client.app.state.runtime.extras[RESOLVER]).__name__ == "DirectoryKeyResolver"  # type: ignore[attr-defined]

    pdf = client.get(f"/api/v1/papers/{issued.json()['number']}/pdf", headers={"x-tongban-node": "110000"})
    verdict = client.post("/api/v1/papers/verify", content=pdf.content).json()
    assert verdict["status"] == "valid", verdict
    page = client.post("/verify", data={"text": pdf.content.hex()})
    assert 'data-status="invalid"' in page.text  # hex of a PDF is no paper
    page = client.post("/verify", files={"file": ("p.pdf", pdf.content, "application/pdf")})
    assert 'data-status="valid"' in page.text and "北京市 (110000)" in page.text
