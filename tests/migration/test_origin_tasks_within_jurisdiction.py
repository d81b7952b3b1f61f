"""The origin's move-out tasks reach only the clerks of the person's county, on the pages and the API alike
(SQLite and PostgreSQL): a reviewer of another county of the same node does not see the task in the queue and
gets 404 when asking for it, deciding it on the page or through the API; each such attempt is audited
(``migration.origin.denied``) and changes nothing; the reviewer of the person's county moves her out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from tests.migration.mig_support import BJ, CLERK_BJ, SH, WIFE, MigNation, accept, task_state, wait_task
from tests.migration.test_migration_pages import Site

from tongban.access.domain import Role
from tongban.audit.tables import AuditRow
from tongban.migration import service as mig


@pytest.fixture
def site(nation: MigNation) -> Iterator[Site]:
    yield Site(nation)


def _denials(site: Site, number: str) -> list[AuditRow]:
    with site.nation.sh.db.session() as s:
        rows = s.scalars(
            select(AuditRow).where(AuditRow.action == "migration.origin.denied", AuditRow.object_id == number)
        ).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def test_a_reviewer_of_another_county_neither_sees_nor_decides_the_task(site: Site) -> None:
    nation = site.nation
    number = accept(nation, nation.bj, WIFE, "MIG-SPOUSE")
    mig.approve(nation.bj, actor=CLERK_BJ, number=number)
    assert wait_task(nation.sh, number, "received")
    mine, csrf = site.client(SH, Role.REVIEWER, "rev.xh", division="310104", office="OFF-XH")
    other, ocsrf = site.client(SH, Role.REVIEWER, "rev.pd", division="310115", office="OFF-PD")

    # The API's queue: within the jurisdiction only.
    assert [t["case_number"] for t in mine.get("/api/v1/migrations/origin-tasks").json()] == [number]
    assert other.get("/api/v1/migrations/origin-tasks").json() == []
    assert other.get("/api/v1/migrations/origin-tasks?include_closed=true").json() == []
    # The pages: out of the queue, 404 by number (the page and its form).
    assert f'data-case="{number}"' not in other.get("/migrations/origin/tasks").text
    assert other.get(f"/migrations/origin/tasks/{number}").status_code == 404
    page = other.post(
        f"/migrations/origin/tasks/{number}", data={"csrf_token": ocsrf, "decision": "move_out"}
    )
    assert page.status_code == 404
    # The API's decision: 404 as for a task that does not exist.
    api = other.post(
        f"/api/v1/migrations/origin-tasks/{number}",
        json={"decision": "move_out"},
        headers={"X-CSRF-Token": ocsrf},
    )
    assert api.status_code == 404
    missing = other.post(
        f"/api/v1/migrations/origin-tasks/{BJ}-20000101-000009",
        json={"decision": "refuse", "note": "x"},
        headers={"X-CSRF-Token": ocsrf},
    )
    assert missing.status_code == 404
    assert api.json()["type"] == missing.json()["type"]
    denied = _denials(site, number)
    assert len(denied) == 3
    assert len({d.actor for d in denied}) == 1 and all("route" in (d.change_summary or "") for d in denied)
    assert task_state(nation.sh, number) == "received"

    # The reviewer of her county decides it through the API.
    done = mine.post(
        f"/api/v1/migrations/origin-tasks/{number}",
        json={"decision": "move_out"},
        headers={"X-CSRF-Token": csrf},
    )
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "moved_out"
    # While she is in transit the task stays in her last county's jurisdiction, and out of the other's.
    all_mine = mine.get("/api/v1/migrations/origin-tasks?include_closed=true").json()
    assert [t["case_number"] for t in all_mine] == [number]
    assert other.get(f"/migrations/origin/tasks/{number}").status_code == 404
    assert len(_denials(site, number)) == 4
