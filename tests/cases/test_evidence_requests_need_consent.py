"""Evidence requests to another node reference the applicant's recorded consent: without one (or with a consent
of another case) they are refused and nothing is kept; with one the request is recorded, referencing it, and
goes through the exchange's transport when the node has one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.access.helpers import add, make_env, signed_in

from tongban.access.domain import Role
from tongban.cases.materials import EVIDENCE_TRANSPORT
from tongban.cases.tables import EvidenceRequestRow
from tongban.core.db import Database


def test_evidence_requests_need_a_recorded_consent(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.e"))
    h = {"X-CSRF-Token": csrf}

    def new_case() -> str:
        r = client.post(
            "/api/v1/cases", json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X"}, headers=h
        )
        return str(r.json()["number"])

    number, other = new_case(), new_case()
    ask = {"target_node": "310000", "material": "origin_hukou_record", "id_number": "11010519491231002X"}
    r = client.post(f"/api/v1/cases/{number}/evidence-requests", json=ask, headers=h)
    assert r.status_code == 409 and "同意" in r.json()["detail"]
    foreign = client.post(
        f"/api/v1/cases/{other}/consents", json={"purpose": "origin hukou record"}, headers=h
    )
    assert foreign.status_code == 201
    r = client.post(
        f"/api/v1/cases/{number}/evidence-requests",
        json={**ask, "consent_id": foreign.json()["id"]},
        headers=h,
    )
    assert r.status_code == 409  # a consent given for another case does not count
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(EvidenceRequestRow)) == 0

    consent = client.post(
        f"/api/v1/cases/{number}/consents", json={"purpose": "origin hukou record"}, headers=h
    )
    cid = consent.json()["id"]
    r = client.post(f"/api/v1/cases/{number}/evidence-requests", json={**ask, "consent_id": cid}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "waiting_for_exchange" and r.json()["consent_id"] == cid
    # Only materials a registry holds are requested; the rest the applicant hands in.
    r = client.post(
        f"/api/v1/cases/{number}/evidence-requests",
        json={**ask, "material": "marriage_certificate", "consent_id": cid},
        headers=h,
    )
    assert r.status_code == 422

    sent: list[dict[str, Any]] = []

    def transport(
        s: Session, *, recipient: str, body: dict[str, object], case_ref: str, consent_ref: str
    ) -> str:
        sent.append({"recipient": recipient, "body": body, "case_ref": case_ref, "consent_ref": consent_ref})
        return "00000000-0000-0000-0000-000000000001"

    env.node.services[EVIDENCE_TRANSPORT] = transport
    r = client.post(f"/api/v1/cases/{number}/evidence-requests", json={**ask, "consent_id": cid}, headers=h)
    assert r.status_code == 201 and r.json()["state"] == "queued"
    assert sent[0]["recipient"] == "310000" and sent[0]["consent_ref"] == cid
    assert sent[0]["case_ref"].endswith(number)
    # The ID number travels only in the body (which the exchange encrypts to the recipient), never in the
    # routing fields; this node keeps only its digest.
    assert sent[0]["body"]["id_number"] == "11010519491231002X"
    assert "11010519491231002X" not in sent[0]["case_ref"] + sent[0]["consent_ref"]
    with env.db.session() as s:
        kept = s.scalars(select(EvidenceRequestRow)).all()
        assert all(r.subject_ref and r.subject_ref.startswith("cid:") for r in kept)
    # Without the person's ID number there is nothing to look up.
    r = client.post(
        f"/api/v1/cases/{number}/evidence-requests",
        json={k: v for k, v in {**ask, "consent_id": cid}.items() if k != "id_number"},
        headers=h,
    )
    assert r.status_code == 422
