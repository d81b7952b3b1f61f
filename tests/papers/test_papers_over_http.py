"""Issue, download in every form, verify publicly, revoke and fetch the signed revocation list over HTTP,
each route with its rule and the user's jurisdiction."""

from __future__ import annotations

import time

from sqlalchemy import select
from starlette.testclient import TestClient
from tests.papers.conftest import SUBJECT, Web, migration_facts

from tongban.access.tables import RecordView as AccessRecord
from tongban.audit.tables import AuditRow
from tongban.papers import domain, forms
from tongban.papers.keys import StaticKeyResolver
from tongban.papers.verify import RevocationCache

NODE = {"x-tongban-node": "110000"}


def _issue(client: TestClient, headers: dict[str, str], **extra: object) -> dict[str, object]:
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
        "division_code": "110105",
        "subject_ref": "person-1",
        **extra,
    }
    r = client.post("/api/v1/papers", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_every_download_form_verifies_on_the_public_endpoint(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    number = _issue(reviewer, headers)["number"]
    assert str(number).startswith("110000-QY-") and str(number).endswith("-000001")
    public, anon = web.anonymous()  # a visitor: no account, only the anonymous CSRF token
    for suffix in ("json", "pdf", "pdf?lang=en", "qr.png", "qr.txt"):
        r = reviewer.get(f"/api/v1/papers/{number}/{suffix}", headers=NODE)
        assert r.status_code == 200, suffix
        assert r.headers["cache-control"] == "no-store"
        v = public.post("/api/v1/papers/verify", content=r.content, headers=anon)
        assert v.status_code == 200
        assert v.json()["status"] == "valid", (suffix, v.json())
        assert v.json()["paper"]["subject"] == SUBJECT
    svg = reviewer.get(f"/api/v1/papers/{number}/qr.svg", headers=NODE)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    # Every download is a read of a person's data: audited, and an access record of the person.
    with web.env.db.session() as s:
        reads = (
            s.execute(select(AuditRow.object_id).where(AuditRow.action == "papers.paper.read"))
            .scalars()
            .all()
        )
    assert reads == [number] * 6
    deadline = time.monotonic() + 5
    views: list[str] = []
    while time.monotonic() < deadline and len(views) < 6:
        with web.env.db.session() as s:
            views = list(s.execute(select(AccessRecord.person_ref)).scalars())
        time.sleep(0.05)
    assert views == ["person-1"] * 6
    with web.env.db.session() as s:
        reasons = s.execute(select(AccessRecord.reason, AccessRecord.reason_ref)).all()
    assert [tuple(r) for r in reasons] == [("paper", number)] * 6


def test_jurisdiction_and_roles_limit_who_reads_issues_and_revokes(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    number = _issue(reviewer, headers)["number"]
    elsewhere, _ = web.user("window_clerk", "ck9", division="110108")
    assert elsewhere.get(f"/api/v1/papers/{number}/pdf", headers=NODE).status_code == 404  # as if none
    clerk, clerk_headers = web.user("window_clerk", "ck1")
    assert clerk.get(f"/api/v1/papers/{number}/pdf", headers=NODE).status_code == 200
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "x",
        "division_code": "110105",
    }
    assert clerk.post("/api/v1/papers", json=body, headers=clerk_headers).status_code == 403
    other_reviewer, orh = web.user("reviewer", "rv9", division="110108")
    assert other_reviewer.post("/api/v1/papers", json=body, headers=orh).status_code == 404
    assert (
        reviewer.post(
            f"/api/v1/papers/{number}/revoke", json={"reason": "withdrawn"}, headers=headers
        ).status_code
        == 403
    )
    citizen, _ = web.user("citizen", "c1", person="person-1")
    assert citizen.get(f"/api/v1/papers/{number}/json", headers=NODE).status_code == 200
    stranger, _ = web.user("citizen", "c2", person="person-2")
    assert stranger.get(f"/api/v1/papers/{number}/json", headers=NODE).status_code == 404
    anonymous, _ = web.anonymous()
    assert anonymous.get(f"/api/v1/papers/{number}/json", headers=NODE).status_code == 401


def test_revocation_shows_everywhere_and_the_list_is_signed(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    head, head_headers = web.user("office_head", "oh1")
    number = _issue(reviewer, headers)["number"]
    r = head.post(f"/api/v1/papers/{number}/revoke", json={"reason": "issued-in-error"}, headers=head_headers)
    assert r.status_code == 200 and r.json()["revoked_at"]
    paper = reviewer.get(f"/api/v1/papers/{number}/json", headers=NODE).content
    public, anon = web.anonymous()
    assert public.post("/api/v1/papers/verify", content=paper, headers=anon).json()["status"] == "revoked"

    listed = public.get("/api/v1/papers/revocations/110000")
    assert listed.status_code == 200 and "max-age" in listed.headers["cache-control"]
    resolver = StaticKeyResolver.from_file(web.tmp_path / "paper-keys" / "paper-keys.json")
    cache = RevocationCache(web.tmp_path / "verifier-cache")
    held = cache.accept(listed.content, resolver, issuer="110000")
    assert held.serial == 1 and number in held.revoked
    verdict = domain.verify_paper(
        forms.from_json_bytes(paper), resolver, cache.load(resolver), held.issued_at
    )
    assert verdict.status == domain.Status.REVOKED
    assert verdict.reasons[0].text(lambda m, **p: m.format(**p)).endswith("(issued in error).")
    anonymous, anon_headers = web.anonymous()
    page = anonymous.post(
        "/verify", data={"text": paper.decode(), "csrf_token": anon_headers["x-csrf-token"]}
    )
    assert "误发" in page.text
    assert public.get("/api/v1/papers/revocations/990000").status_code == 404


def test_verify_page_shows_the_verdict_and_only_the_papers_fields(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    number = _issue(reviewer, headers)["number"]
    qr = reviewer.get(f"/api/v1/papers/{number}/qr.txt", headers=NODE).text
    pdf = reviewer.get(f"/api/v1/papers/{number}/pdf", headers=NODE).content
    client, anon = web.anonymous()
    token = anon["x-csrf-token"]
    page = client.get("/verify")
    assert page.status_code == 200 and 'name="text"' in page.text
    r = client.post("/verify", data={"text": qr, "csrf_token": token})
    assert r.status_code == 200
    assert 'data-status="valid"' in r.text and "有效" in r.text and SUBJECT["name"] in r.text
    forged = qr[:-3] + ("A" if qr[-3] != "A" else "B") + qr[-2:]
    r = client.post("/verify", data={"text": forged, "csrf_token": token})
    assert 'data-status="invalid"' in r.text and SUBJECT["name"] not in r.text
    # The token in the header: the access middleware leaves a multipart form it parsed itself unclosed.
    r = client.post("/verify", files={"file": ("paper.pdf", pdf, "application/pdf")}, headers=anon)
    assert 'data-status="valid"' in r.text
    assert client.post("/verify", data={"text": "", "csrf_token": token}).status_code == 422


def test_oversized_upload_is_refused(web: Web) -> None:
    big = b"{" + b" " * (5 * 1024 * 1024)
    public, anon = web.anonymous()
    assert public.post("/api/v1/papers/verify", content=big, headers=anon).status_code == 413
    r = public.post("/verify", files={"file": ("big.json", big, "application/json")}, headers=anon)
    assert r.status_code == 413


def test_bad_issue_requests_are_problem_documents(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    body = {"type": "no.such", "subject": SUBJECT, "facts": {}, "purpose": "x", "division_code": "110105"}
    r = reviewer.post("/api/v1/papers", json=body, headers=headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert reviewer.get("/api/v1/papers/110000-QY-2026-999999/pdf", headers=NODE).status_code == 404
