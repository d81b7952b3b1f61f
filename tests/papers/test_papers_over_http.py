"""Issue, download in every form, verify publicly, revoke and fetch the signed revocation list over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, migration_facts

from tongban.audit.tables import AuditRow
from tongban.core.node import NodeEntry, write_manifest
from tongban.papers import domain, forms
from tongban.papers.keys import StaticKeyResolver
from tongban.papers.verify import RevocationCache
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市"), NodeEntry("440000", "广东省")])
    runtime = build_runtime(test_settings(tmp_path))
    return TestClient(create_app(runtime))


def _issue(client: TestClient, **extra: object) -> dict[str, object]:
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
        **extra,
    }
    r = client.post("/api/v1/papers", json=body, headers={"x-tongban-node": "110000"})
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_every_download_form_verifies_on_the_public_endpoint(client: TestClient) -> None:
    number = _issue(client)["number"]
    assert number == "110000-QY-" + str(number).split("-")[2] + "-000001"
    node = {"x-tongban-node": "110000"}
    for suffix in ("json", "pdf", "pdf?lang=en", "qr.png", "qr.txt"):
        r = client.get(f"/api/v1/papers/{number}/{suffix}", headers=node)
        assert r.status_code == 200, suffix
        assert r.headers["cache-control"] == "no-store"
        v = client.post("/api/v1/papers/verify", content=r.content)
        assert v.status_code == 200
        assert v.json()["status"] == "valid", (suffix, v.json())
        assert v.json()["paper"]["subject"] == SUBJECT
    svg = client.get(f"/api/v1/papers/{number}/qr.svg", headers=node)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    # Every download is a read of a person's data, and is audited.
    db = client.app.state.runtime.nodes["110000"].db  # type: ignore[attr-defined]
    with db.session() as s:
        reads = (
            s.execute(select(AuditRow.object_id).where(AuditRow.action == "papers.paper.read"))
            .scalars()
            .all()
        )
    assert reads == [number] * 6


def test_revocation_shows_everywhere_and_the_list_is_signed(client: TestClient, tmp_path: Path) -> None:
    number = _issue(client)["number"]
    r = client.post(
        f"/api/v1/papers/{number}/revoke",
        json={"reason": "issued-in-error"},
        headers={"x-tongban-node": "110000"},
    )
    assert r.status_code == 200 and r.json()["revoked_at"]
    paper = client.get(f"/api/v1/papers/{number}/json", headers={"x-tongban-node": "110000"}).content
    assert client.post("/api/v1/papers/verify", content=paper).json()["status"] == "revoked"

    listed = client.get("/api/v1/papers/revocations/110000")
    assert listed.status_code == 200 and "max-age" in listed.headers["cache-control"]
    resolver = StaticKeyResolver.from_file(tmp_path / "paper-keys" / "paper-keys.json")
    cache = RevocationCache(tmp_path / "verifier-cache")
    held = cache.accept(listed.content, resolver, issuer="110000")
    assert held.serial == 1 and number in held.revoked
    revocations = cache.load(resolver)
    verdict = domain.verify_paper(forms.from_json_bytes(paper), resolver, revocations, held.issued_at)
    assert verdict.status == domain.Status.REVOKED
    assert verdict.reasons[0].text(lambda m, **p: m.format(**p)).endswith("(issued in error).")
    assert "误发" in client.post("/verify", data={"text": paper.decode()}).text
    assert client.get("/api/v1/papers/revocations/440000").status_code == 404  # nothing issued there yet
    assert client.get("/api/v1/papers/revocations/990000").status_code == 404


def test_verify_page_shows_the_verdict_and_only_the_papers_fields(client: TestClient) -> None:
    number = _issue(client)["number"]
    qr = client.get(f"/api/v1/papers/{number}/qr.txt", headers={"x-tongban-node": "110000"}).text
    page = client.get("/verify")
    assert page.status_code == 200 and 'name="text"' in page.text
    r = client.post("/verify", data={"text": qr})
    assert r.status_code == 200
    assert 'data-status="valid"' in r.text and "有效" in r.text and SUBJECT["name"] in r.text
    forged = qr[:-3] + ("A" if qr[-3] != "A" else "B") + qr[-2:]
    r = client.post("/verify", data={"text": forged})
    assert 'data-status="invalid"' in r.text and SUBJECT["name"] not in r.text
    r = client.post(
        "/verify",
        files={
            "file": (
                "paper.pdf",
                client.get(f"/api/v1/papers/{number}/pdf", headers={"x-tongban-node": "110000"}).content,
                "application/pdf",
            )
        },
    )
    assert 'data-status="valid"' in r.text
    assert client.post("/verify", data={"text": ""}).status_code == 422


def test_oversized_upload_is_refused(client: TestClient) -> None:
    big = b"{" + b" " * (5 * 1024 * 1024)
    assert client.post("/api/v1/papers/verify", content=big).status_code == 413
    r = client.post("/verify", files={"file": ("big.json", big, "application/json")})
    assert r.status_code == 413


def test_bad_issue_requests_are_problem_documents(client: TestClient) -> None:
    r = client.post(
        "/api/v1/papers",
        json={"type": "no.such", "subject": SUBJECT, "facts": {}, "purpose": "x"},
        headers={"x-tongban-node": "110000"},
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert (
        client.get(
            "/api/v1/papers/110000-QY-2026-999999/pdf", headers={"x-tongban-node": "110000"}
        ).status_code
        == 404
    )
