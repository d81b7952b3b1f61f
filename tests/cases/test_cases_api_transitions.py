"""The cases API: a clerk accepts, requests materials, resumes; an illegal transition is a 409 problem
document that changes nothing (state, history, audit); scope and role rules hold. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.access.helpers import Env, add, make_env, signed_in

from tongban.access.domain import Role
from tongban.audit.tables import AuditRow
from tongban.core.db import Database

APPLICANT = "11010519491231002X"


def audit_count(env: Env, number: str) -> int:
    with env.db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(AuditRow).where(AuditRow.object_id == number)) or 0
        )


def accept(client: TestClient, csrf: str, **extra: object) -> dict[str, object]:
    r = client.post(
        "/api/v1/cases",
        json={"matter": "MIG-SPOUSE", "id_number": APPLICANT, "phone": "13800000000", **extra},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


def test_accept_request_materials_resume_and_refuse_an_illegal_step(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.a"))
    case = accept(client, csrf)
    number = str(case["number"])
    assert case["state"] == "accepted"
    assert case["applicant"] == "110105********002X"  # masked; the number itself is never stored on the case
    assert case["time_left"] is not None and case["time_left"]["days"] > 0  # type: ignore[index]
    assert [e["action"] for e in case["history"]] == ["accept"]  # type: ignore[union-attr]
    assert audit_count(env, number) == 1

    r = client.post(
        f"/api/v1/cases/{number}/actions",
        json={"action": "request_materials", "missing": ["marriage_certificate"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    paused = r.json()
    assert paused["state"] == "awaiting_materials"
    assert paused["time_left"]["waiting_for_materials"] is True
    assert paused["missing_materials"] == ["marriage_certificate"]
    assert audit_count(env, number) == 2

    # Starting while waiting for materials is illegal: 409, a problem document, and nothing changes.
    r = client.post(
        f"/api/v1/cases/{number}/actions", json={"action": "start"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 409 and "start" in problem["detail"]
    after = client.get(f"/api/v1/cases/{number}").json()
    assert after["state"] == "awaiting_materials"
    assert len(after["history"]) == 2
    assert audit_count(env, number) == 2

    r = client.post(
        f"/api/v1/cases/{number}/actions",
        json={"action": "receive_materials"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200 and r.json()["state"] == "in_progress"
    assert [e["action"] for e in r.json()["history"]] == ["accept", "request_materials", "receive_materials"]

    queue = client.get("/api/v1/cases").json()
    assert [c["number"] for c in queue] == [number]
    assert queue[0]["time_left"]["urgency"] in ("ok", "near")


def test_only_a_reviewer_decides_and_the_decision_is_explained(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    clerk, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.b"))
    number = str(accept(clerk, csrf)["number"])
    r = clerk.post(
        f"/api/v1/cases/{number}/decision", json={"conclude": "refuse"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 403
    reviewer, rcsrf = signed_in(env, add(env, Role.REVIEWER, "rev.b"))
    r = reviewer.post(
        f"/api/v1/cases/{number}/decision?lang=en",
        json={"facts": {"marriage_duration": "1y4m"}, "conclude": "refuse", "reason": "marriage too short"},
        headers={"X-CSRF-Token": rcsrf},
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["state"] == "closed" and closed["close_reason"] == "refused"
    assert closed["time_left"] is None
    assert closed["decision"]["eligible"] is False
    assert "spouse migration requires 2 years of marriage" in closed["explanation"]
    assert "Not eligible" in closed["explanation"]
    zh = reviewer.get(f"/api/v1/cases/{number}?lang=zh_CN").json()["explanation"]
    assert "夫妻投靠须结婚满" in zh
    # A closed case refuses every further step with a 409.
    r = clerk.post(
        f"/api/v1/cases/{number}/actions", json={"action": "withdraw"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 409


def test_out_of_scope_and_invalid_input(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.c"))
    number = str(accept(client, csrf)["number"])
    other, ocsrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.d", office="OFF-B"))
    assert other.get(f"/api/v1/cases/{number}").status_code == 404  # another office: as if missing
    assert other.get("/api/v1/cases").json() == []
    r = other.post(
        f"/api/v1/cases/{number}/actions", json={"action": "start"}, headers={"X-CSRF-Token": ocsrf}
    )
    assert r.status_code == 404
    bad = client.post(
        "/api/v1/cases",
        json={"matter": "MIG-SPOUSE", "id_number": "110105194912310021"},
        headers={"X-CSRF-Token": csrf},
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    unknown = client.post(
        "/api/v1/cases", json={"matter": "NOPE", "id_number": APPLICANT}, headers={"X-CSRF-Token": csrf}
    )
    assert unknown.status_code == 404
    # Without the CSRF token a cookie-authenticated write is refused before anything runs.
    assert (
        client.post("/api/v1/cases", json={"matter": "MIG-SPOUSE", "id_number": APPLICANT}).status_code == 403
    )
