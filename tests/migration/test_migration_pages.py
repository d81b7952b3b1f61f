"""The migration pages over a running nation (Beijing the destination, Shanghai the origin), on SQLite and
PostgreSQL: a clerk accepts through the form (materials checklist, policy facts, commitment) and reads the
policy decision as a sentence; only a reviewer approves; Shanghai's reviewer sees the task in the queue with
its deadline, reads the permit and the person's status (the read logged) and moves out; Beijing registers the
move-in; the citizen sees the timeline and downloads the papers, and no one else's case. Refusals: an illegal
step (409, translated), a clerk outside the office (404), a reviewer of another county (404), a citizen on a
staff page (403), an origin refusal with its reason code reaching the destination."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.access.helpers import FAST
from tests.migration.mig_support import (
    BJ,
    ELDER,
    LONER,
    SH,
    WIFE,
    MigNation,
    mig_state,
    status_at,
    task_state,
    wait_state,
    wait_task,
)

from tongban.access import service
from tongban.access.domain import Role
from tongban.access.middleware import session_cookie_value
from tongban.access.tables import RecordView
from tongban.access.web import view_buffer
from tongban.cases import window
from tongban.web.app import Runtime, create_app


class Site:
    def __init__(self, nation: MigNation) -> None:
        self.nation = nation
        nodes = {BJ: nation.bj, SH: nation.sh}
        self.runtime = Runtime(settings=nation.bj.settings, nodes=nodes, extras={"access_settings": FAST})
        self.app = create_app(self.runtime)

    def client(
        self,
        code: str,
        role: Role,
        login: str,
        *,
        division: str = "110105",
        office: str = "OFF-BJ",
        person: str | None = None,
    ) -> tuple[TestClient, str]:
        node = self.nation.nodes[code]
        staff = role is not Role.CITIZEN
        user = service.add_user(
            node.db,
            settings=FAST,
            now=node.clock.now(),
            actor="test",
            login=login,
            role=role,
            display_name=login,
            password="correct-horse-42",
            division_code=division if staff else None,
            office_code=office if staff else None,
            person_ref=person,
        )
        new = service.open_session(
            node.db, settings=FAST, user_id=user.id, stage=service.STAGE_ACTIVE, now=node.clock.now()
        )
        client = TestClient(self.app, follow_redirects=False, headers={"x-tongban-node": code})
        client.cookies.set(FAST.session_cookie, session_cookie_value(code, new.token))
        return client, new.csrf_token


@pytest.fixture
def site(nation: MigNation) -> Iterator[Site]:
    yield Site(nation)


SPOUSE_FORM = {
    "matter": "MIG-SPOUSE",
    "id_number": WIFE,
    "name": "测试乙",
    "phone": "13800000000",
    "origin_address": "上海市徐汇区测试路1号",
    "household_number": "D1",
    "relation": "spouse",
    "fact_marriage_duration": "5y",
    "handed_in": "marriage_certificate",
    "commitment": "yes",
}


def _accept(client: TestClient, csrf: str, **changes: Any) -> Any:
    return client.post("/migrations/new", data={**SPOUSE_FORM, "csrf_token": csrf, **changes})


def _number(response: Any) -> str:
    assert response.status_code == 303, response.text
    found = re.search(r"/migrations/([0-9-]+)\?done=accepted", response.headers["location"])
    assert found is not None
    return found.group(1)


def test_a_spouse_migration_through_the_pages(site: Site) -> None:
    nation = site.nation
    clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj")
    reviewer, rcsrf = site.client(BJ, Role.REVIEWER, "rev.bj")
    origin_rev, ocsrf = site.client(SH, Role.REVIEWER, "rev.sh", division="310104", office="OFF-SH")
    citizen, _ = site.client(BJ, Role.CITIZEN, "cid:wife", person=window.applicant_ref(nation.bj, WIFE))
    stranger, _ = site.client(BJ, Role.CITIZEN, "cid:loner", person=window.applicant_ref(nation.bj, LONER))

    page = clerk.get("/migrations/new?matter=MIG-SPOUSE")
    assert page.status_code == 200
    assert "结婚证" in page.text and 'name="fact_marriage_duration"' in page.text
    # The checklist and the commitment are checked before anything is stored.
    refused = _accept(clerk, csrf, handed_in="")
    assert refused.status_code == 422 and "结婚证" in refused.text
    refused = _accept(clerk, csrf, commitment="")
    assert refused.status_code == 422 and "告知承诺书" in refused.text
    number = _number(_accept(clerk, csrf))

    page = clerk.get(f"/migrations/{number}")
    assert page.status_code == 200
    assert 'data-state="accepted"' in page.text and "已受理，待审批" in page.text
    assert 'id="explanation" data-eligible="yes"' in page.text
    assert "剩余" in page.text  # the time left
    assert 'id="approve"' not in page.text  # a window clerk does not decide
    assert (
        clerk.post(f"/migrations/{number}/decide", data={"csrf_token": csrf, "action": "approve"}).status_code
        == 403
    )
    listing = clerk.get("/migrations")
    assert f'data-case="{number}"' in listing.text
    # A clerk of another office does not see the case at all.
    other, _ = site.client(BJ, Role.WINDOW_CLERK, "clerk.other", office="OFF-X")
    assert other.get(f"/migrations/{number}").status_code == 404
    assert f'data-case="{number}"' not in other.get("/migrations").text
    # The window's form is for staff: a citizen applies online at /my/migrations/new.
    assert citizen.get("/migrations/new").status_code == 422

    page = reviewer.get(f"/migrations/{number}")
    assert 'id="approve"' in page.text
    # An illegal step is refused with the reason in Chinese and changes nothing.
    bad = reviewer.post(f"/migrations/{number}/act", data={"csrf_token": rcsrf, "action": "move_in"})
    assert bad.status_code == 409 and "不能执行" in bad.text
    done = reviewer.post(f"/migrations/{number}/decide", data={"csrf_token": rcsrf, "action": "approve"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=approve")
    assert reviewer.get(f"/migrations/{number}/papers/permit.pdf").content.startswith(b"%PDF")

    # Shanghai: the queue with the deadline, the task page with the permit and the person's status.
    assert wait_task(nation.sh, number, "received")
    queue = origin_rev.get("/migrations/origin/tasks")
    assert queue.status_code == 200 and f'data-case="{number}"' in queue.text and "剩余" in queue.text
    elsewhere, _ = site.client(SH, Role.REVIEWER, "rev.sh2", division="310115", office="OFF-PD")
    assert f'data-case="{number}"' not in elsewhere.get("/migrations/origin/tasks").text
    assert elsewhere.get(f"/migrations/origin/tasks/{number}").status_code == 404
    task = origin_rev.get(f"/migrations/origin/tasks/{number}")
    assert task.status_code == 200
    assert "测试乙" in task.text and 'data-status="active"' in task.text and "在本地登记" in task.text
    view_buffer(nation.sh).flush()
    with nation.sh.db.session() as s:
        reads = s.scalars(select(RecordView).where(RecordView.reason_ref == f"{BJ}/{number}")).all()
        assert any(r.viewer_role == "reviewer" for r in reads)
    moved = origin_rev.post(
        f"/migrations/origin/tasks/{number}", data={"csrf_token": ocsrf, "decision": "move_out"}
    )
    assert moved.status_code == 303, moved.text
    assert status_at(nation.sh, WIFE) == "in_transit"
    # Still in the reviewer's jurisdiction while in transit (where she was last registered).
    task = origin_rev.get(f"/migrations/origin/tasks/{number}")
    assert task.status_code == 200 and 'data-status="in_transit"' in task.text

    # Beijing: the certificate arrives, the clerk registers the move-in into the chosen household.
    assert wait_state(nation.bj, number, "certificate_received")
    page = clerk.get(f"/migrations/{number}")
    assert 'id="register-move-in"' in page.text and 'data-paper="certificate"' in page.text
    done = clerk.post(
        f"/migrations/{number}/act",
        data={"csrf_token": csrf, "action": "move_in", "household_number": "D1", "relation": "spouse"},
    )
    assert done.status_code == 303, done.text
    assert mig_state(nation.bj, number) == "settled" and status_at(nation.bj, WIFE) == "active"
    assert wait_task(nation.sh, number, "settled")

    # The citizen: their own migrations, the timeline and the papers; nobody else's.
    mine = citizen.get("/my/migrations")
    assert mine.status_code == 200 and f'data-case="{number}"' in mine.text
    page = citizen.get(f"/my/migrations/{number}")
    assert page.status_code == 200 and "已落户" in page.text and 'id="history"' in page.text
    steps = re.findall(r'data-step="([a-z_.]+)"', page.text)
    assert steps == [
        "migration.case.accept",
        "migration.case.approve",
        "migration.certificate.receive",
        "migration.case.move_in",
    ]
    assert citizen.get(f"/my/migrations/{number}/papers/certificate.pdf").content.startswith(b"%PDF")
    paper = citizen.get(f"/my/migrations/{number}/papers/permit.json")
    assert paper.status_code == 200 and paper.json()
    assert stranger.get(f"/my/migrations/{number}").status_code == 404
    assert stranger.get(f"/my/migrations/{number}/papers/permit.pdf").status_code == 404
    assert f'data-case="{number}"' not in stranger.get("/my/migrations").text
    assert stranger.get(f"/migrations/{number}/papers/permit.pdf").status_code == 404
    assert citizen.get("/migrations").headers["location"] == "/my/migrations"
    assert clerk.get(f"/my/migrations/{number}").status_code == 404


def test_an_origin_refusal_with_its_reason_and_a_withdrawal(site: Site) -> None:
    nation = site.nation
    clerk, csrf = site.client(BJ, Role.REVIEWER, "rev.bj")
    origin_rev, ocsrf = site.client(SH, Role.REVIEWER, "rev.sh", division="310104", office="OFF-SH")
    number = _number(
        _accept(
            clerk,
            csrf,
            matter="MIG-PARENT",
            id_number=ELDER,
            name="测试庚",
            relation="parent",
            handed_in="parent_child_relation_proof",
            fact_marriage_duration="",
            fact_parent_age="66",
        )
    )
    clerk.post(f"/migrations/{number}/decide", data={"csrf_token": csrf, "action": "approve"})
    assert wait_task(nation.sh, number, "received")
    # "Other" needs words.
    bad = origin_rev.post(
        f"/migrations/origin/tasks/{number}",
        data={"csrf_token": ocsrf, "decision": "refuse", "code": "other"},
    )
    assert bad.status_code == 422 and "理由" in bad.text
    done = origin_rev.post(
        f"/migrations/origin/tasks/{number}",
        data={"csrf_token": ocsrf, "decision": "refuse", "code": "pending-matter", "note": "待结案"},
    )
    assert done.status_code == 303
    assert task_state(nation.sh, number) == "refused"
    assert wait_state(nation.bj, number, "refused")
    page = clerk.get(f"/migrations/{number}")
    assert "迁出地不予办理迁出" in page.text and "pending-matter: 待结案" in page.text

    # A second case of someone else is withdrawn before the permit: a cancel.
    other = _number(
        _accept(
            clerk,
            csrf,
            matter="MIG-JOB",
            id_number=LONER,
            name="测试丁",
            relation="head",
            handed_in="job_transfer_proof",
        )
    )
    page = clerk.get(f"/migrations/{other}")
    assert 'id="withdraw"' in page.text and 'id="abandon"' not in page.text
    done = clerk.post(f"/migrations/{other}/act", data={"csrf_token": csrf, "action": "withdraw"})
    assert done.status_code == 303 and mig_state(nation.bj, other) == "withdrawn"
    again = clerk.post(f"/migrations/{other}/act", data={"csrf_token": csrf, "action": "withdraw"})
    assert again.status_code == 409
    # In English, the refusal of an illegal step too.
    again = clerk.post(f"/migrations/{other}/act?lang=en", data={"csrf_token": csrf, "action": "withdraw"})
    assert again.status_code == 409 and "withdraw is not allowed" in again.text
    assert "withdrawn" in clerk.get(f"/migrations/{other}?lang=en").text
