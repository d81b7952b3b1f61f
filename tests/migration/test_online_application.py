"""A citizen applies online for a migration at the destination (``/my/migrations/new``), on SQLite and
PostgreSQL: the materials are uploaded with the application (within the node's upload limit, checked by
content), the case is accepted with office ``online`` in the destination household's division and the
consent recorded with channel ``online``. Who reaches it: the county's reviewers (``cases.case.decide``)
approve and also register the move-in; a window clerk, whose reach is their office, gets 404 (see
docs/migration.md). Refusals: another person's ID number, a missing, oversized or non-PDF/JPEG/PNG file, a
missing commitment, an unknown household: each shown in the page's language, nothing stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.migration.mig_support import (
    BJ,
    LONER,
    SH,
    WIFE,
    MigNation,
    mig_state,
    status_at,
    wait_state,
    wait_task,
)
from tests.migration.test_migration_pages import Site

from tongban.access.domain import Role
from tongban.cases import window
from tongban.cases.tables import CaseRow, ConsentRow, MaterialRow

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORM = {
    "matter": "MIG-SPOUSE",
    "id_number": WIFE,
    "name": "测试乙",
    "phone": "13800000000",
    "origin_address": "上海市徐汇区测试路1号",
    "household_number": "D1",
    "relation": "spouse",
    "fact_marriage_duration": "5y",
    "commitment": "yes",
}


@pytest.fixture
def site(nation: MigNation) -> Iterator[Site]:
    yield Site(nation)


def _apply(client: TestClient, csrf: str, *, files: dict[str, Any] | None = None, **changes: Any) -> Any:
    given = {"file_marriage_certificate": ("marriage.png", PNG, "image/png")} if files is None else files
    return client.post("/my/migrations/new", data={**FORM, "csrf_token": csrf, **changes}, files=given)


def _cases(site: Site) -> int:
    with site.nation.bj.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(CaseRow)) or 0)


def test_a_citizen_applies_online_and_the_county_reviewer_carries_it_to_the_move_in(site: Site) -> None:
    nation = site.nation
    citizen, ccsrf = site.client(BJ, Role.CITIZEN, "cid:wife", person=window.applicant_ref(nation.bj, WIFE))
    reviewer, rcsrf = site.client(BJ, Role.REVIEWER, "rev.bj")
    clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj")
    origin_rev, ocsrf = site.client(SH, Role.REVIEWER, "rev.sh", division="310104", office="OFF-SH")

    page = citizen.get("/my/migrations/new?matter=MIG-SPOUSE")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and 'name="file_marriage_certificate"' in page.text
    assert "结婚证" in page.text and 'name="fact_marriage_duration"' in page.text
    assert 'href="/my/migrations/new"' in citizen.get("/my/migrations").text

    done = _apply(citizen, ccsrf)
    assert done.status_code == 303, done.text
    found = re.search(r"/my/migrations/([0-9-]+)\?done=applied", done.headers["location"])
    assert found is not None
    number = found.group(1)
    with nation.bj.db.session() as s:
        case = s.scalars(select(CaseRow).where(CaseRow.number == number)).one()
        assert case.accepting_office == "online"
        consent = s.scalars(select(ConsentRow).where(ConsentRow.case_id == case.id)).one()
        assert consent.channel == "online"
        uploads = s.scalars(select(MaterialRow).where(MaterialRow.case_id == case.id)).all()
        assert [(u.material, u.content_type) for u in uploads] == [("marriage_certificate", "image/png")]
    mine = citizen.get(f"/my/migrations/{number}?done=applied")
    assert mine.status_code == 200 and "已受理，待审批" in mine.text
    assert 'data-material="marriage_certificate"' in mine.text and "image/png" in mine.text
    own = re.search(r'href="(/my/migrations/[0-9-]+/materials/[0-9]+)"', mine.text)
    assert own is not None and citizen.get(own.group(1)).content == PNG
    other, _ = site.client(BJ, Role.CITIZEN, "cid:loner", person=window.applicant_ref(nation.bj, LONER))
    assert other.get(own.group(1)).status_code == 404  # another person's application: as if none
    assert f'data-case="{number}"' in citizen.get("/my/migrations").text

    # A window clerk's reach is their office: an online application is not theirs.
    assert clerk.get(f"/migrations/{number}").status_code == 404
    assert f'data-case="{number}"' not in clerk.get("/migrations").text
    # The county's reviewer sees it with the uploaded material, approves it.
    assert f'data-case="{number}"' in reviewer.get("/migrations").text
    page = reviewer.get(f"/migrations/{number}")
    assert page.status_code == 200 and 'id="online-badge"' in page.text
    assert 'data-material="marriage_certificate"' in page.text and 'id="approve"' in page.text
    # ... and opens the uploaded file from the page, as it was uploaded; the clerk cannot.
    link = re.search(
        r'href="(/migrations/[0-9-]+/materials/[0-9]+)" data-download="marriage_certificate"', page.text
    )
    assert link is not None
    got = reviewer.get(link.group(1))
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png" and got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert clerk.get(link.group(1)).status_code == 404
    assert reviewer.get(f"/migrations/{number}/materials/999999").status_code == 404
    approved = reviewer.post(f"/migrations/{number}/decide", data={"csrf_token": rcsrf, "action": "approve"})
    assert approved.status_code == 303, approved.text

    assert wait_task(nation.sh, number, "received")
    moved = origin_rev.post(
        f"/migrations/origin/tasks/{number}", data={"csrf_token": ocsrf, "decision": "move_out"}
    )
    assert moved.status_code == 303, moved.text
    assert wait_state(nation.bj, number, "certificate_received")

    # The move-in of an online application: not the clerk (404), the reviewer.
    denied = clerk.post(
        f"/migrations/{number}/act",
        data={"csrf_token": csrf, "action": "move_in", "household_number": "D1", "relation": "spouse"},
    )
    assert denied.status_code == 404
    page = reviewer.get(f"/migrations/{number}")
    assert 'id="register-move-in"' in page.text
    done = reviewer.post(
        f"/migrations/{number}/act",
        data={"csrf_token": rcsrf, "action": "move_in", "household_number": "D1", "relation": "spouse"},
    )
    assert done.status_code == 303, done.text
    assert mig_state(nation.bj, number) == "settled" and status_at(nation.bj, WIFE) == "active"
    assert wait_task(nation.sh, number, "settled")
    page = citizen.get(f"/my/migrations/{number}")
    assert "已落户" in page.text and 'data-paper="certificate"' in page.text
    assert citizen.get(f"/my/migrations/{number}/papers/certificate.pdf").content.startswith(b"%PDF")


def test_an_online_application_through_the_api_steps_follows_the_same_reach(site: Site) -> None:
    nation = site.nation
    citizen, ccsrf = site.client(BJ, Role.CITIZEN, "cid:wife", person=window.applicant_ref(nation.bj, WIFE))
    clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj")
    reviewer, rcsrf = site.client(BJ, Role.REVIEWER, "rev.bj")
    number = re.findall(r"/my/migrations/([0-9-]+)", _apply(citizen, ccsrf).headers["location"])[0]
    headers = {"x-csrf-token": csrf}
    assert clerk.post(f"/api/v1/migrations/{number}/withdraw", json={}, headers=headers).status_code == 404
    done = reviewer.post(f"/api/v1/migrations/{number}/withdraw", json={}, headers={"x-csrf-token": rcsrf})
    assert done.status_code == 200, done.text
    assert mig_state(nation.bj, number) == "withdrawn"


@pytest.mark.parametrize(
    ("changes", "files", "status", "words"),
    [
        ({"id_number": LONER}, None, 422, "登录时使用的号码"),
        ({}, {}, 422, "结婚证"),
        ({}, {"file_marriage_certificate": ("m.txt", b"just text", "text/plain")}, 422, "PDF"),
        ({"commitment": ""}, None, 422, "告知承诺书"),
        ({"household_number": "NOPE"}, None, 422, "NOPE"),
    ],
)
def test_a_refused_online_application_stores_nothing(
    site: Site, changes: dict[str, str], files: dict[str, Any] | None, status: int, words: str
) -> None:
    citizen, ccsrf = site.client(
        BJ, Role.CITIZEN, "cid:wife", person=window.applicant_ref(site.nation.bj, WIFE)
    )
    before = _cases(site)
    refused = _apply(citizen, ccsrf, files=files, **changes)
    assert refused.status_code == status, refused.text
    assert words in refused.text
    assert _cases(site) == before


def test_an_oversized_file_is_refused_and_staff_do_not_apply_for_themselves(site: Site) -> None:
    citizen, ccsrf = site.client(
        BJ, Role.CITIZEN, "cid:wife", person=window.applicant_ref(site.nation.bj, WIFE)
    )
    limit = site.nation.bj.settings.max_upload_bytes
    big = PNG + b"\x00" * limit
    before = _cases(site)
    refused = _apply(citizen, ccsrf, files={"file_marriage_certificate": ("m.png", big, "image/png")})
    assert refused.status_code == 413 and str(limit) in refused.text
    assert _cases(site) == before
    clerk, csrf = site.client(BJ, Role.WINDOW_CLERK, "clerk.bj")
    page = clerk.get("/my/migrations/new")
    assert page.status_code == 200 and 'id="form-error"' in page.text
    assert _apply(clerk, csrf).status_code == 422
    assert _cases(site) == before
