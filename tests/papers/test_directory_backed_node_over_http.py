"""A node whose data dir has the national directory issues with the directory's paper key and verifies with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.papers.conftest import SUBJECT, Web, migration_facts

from tongban.core.clock import utcnow
from tongban.core.db import Database
from tongban.exchange import directory_admin
from tongban.exchange.directory import DIRECTORY_FILE, Directory, split_blob
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.runtime import RESOLVER

NODE = {"x-tongban-node": "110000"}


def test_issue_and_verify_with_the_directory_key(database: Database, tmp_path: Path) -> None:
    earlier = utcnow() - timedelta(minutes=5)
    directory_admin.init(tmp_path, now=earlier)
    directory_admin.add_node(tmp_path, code="110000", name="北京市", now=earlier)
    web = Web(database, tmp_path)
    assert isinstance(web.env.runtime.extras[RESOLVER], DirectoryKeyResolver)
    reviewer, headers = web.user("reviewer", "rv1")
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
        "division_code": "110105",
    }
    issued = reviewer.post("/api/v1/papers", json=body, headers=headers)
    assert issued.status_code == 201, issued.text
    key_id = issued.json()["signed"]["signature"]["key_id"]
    directory = Directory.parse(split_blob((tmp_path / DIRECTORY_FILE).read_bytes()).payload)
    node = directory.node("110000")
    assert node is not None
    assert key_id in {k.key_id for k in node.keys if k.purpose == "papers"}
    assert not (tmp_path / "paper-keys").exists()  # no local stand-in keys when the directory is there

    pdf = reviewer.get(f"/api/v1/papers/{issued.json()['number']}/pdf", headers=NODE).content
    public, anon = web.anonymous()
    verdict = public.post("/api/v1/papers/verify", content=pdf, headers=anon).json()
    assert verdict["status"] == "valid", verdict
    page = public.post("/verify", data={"text": pdf.hex()}, headers=anon)
    assert 'data-status="invalid"' in page.text  # the hex of a PDF is no paper
    page = public.post("/verify", files={"file": ("p.pdf", pdf, "application/pdf")}, headers=anon)
    assert 'data-status="valid"' in page.text and "北京市 (110000)" in page.text
