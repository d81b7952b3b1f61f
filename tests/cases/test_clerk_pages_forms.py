"""The clerk's pages over HTTP: the acceptance form validates the ID number and lists what a registry holds
as looked up; an incomplete checklist opens the materials wait at once (one-time notice); forms need the CSRF
token; an illegal action shows the page again with the reason and a 409; the queue badges overdue cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.access.helpers import add, make_env, signed_in

from tongban.access.domain import Role
from tongban.cases.jobs import sweep_deadlines
from tongban.core.db import Database


def test_acceptance_form_queue_and_case_page(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.p"))
    assert 'href="/cases/queue"' in client.get("/").text  # the layout leads staff to their queue
    form = client.get("/cases/new?matter=MIG-SPOUSE&lang=zh_CN")
    assert form.status_code == 200
    assert 'name="handed_in" value="marriage_certificate"' in form.text
    assert 'value="sponsor_hukou_record"' not in form.text  # looked up: not a checkbox
    assert "被投靠人户籍信息" in form.text

    data = {"csrf_token": csrf, "matter": "MIG-SPOUSE", "id_number": "110105194912310021"}
    bad = client.post("/cases/new", data=data)
    assert bad.status_code == 422 and 'id="form-error"' in bad.text
    assert 'value="110105194912310021"' in bad.text  # the form keeps what was typed
    assert client.post("/cases/new", data={**data, "csrf_token": "forged"}).status_code == 403

    ok = client.post("/cases/new", data={**data, "id_number": "11010519491231002X"})  # nothing ticked
    assert ok.status_code == 303
    number = ok.headers["location"].split("/")[2].split("?")[0]
    page = client.get(f"/cases/{number}")
    assert page.status_code == 200
    assert "待补正材料" in page.text and "结婚证" in page.text
    assert "一次性告知书" in page.text

    refused = client.post(f"/cases/{number}/act", data={"csrf_token": csrf, "action": "start"})
    assert refused.status_code == 409 and 'id="case-error"' in refused.text
    resumed = client.post(f"/cases/{number}/act", data={"csrf_token": csrf, "action": "receive_materials"})
    assert resumed.status_code == 303
    assert "办理中" in client.get(f"/cases/{number}").text

    env.clock.advance(timedelta(days=120))
    sweep_deadlines(env.node, deliver=False)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.p2"))  # sessions do not last 120 days
    queue = client.get("/cases/queue?due=overdue")
    assert f'data-case="{number}"' in queue.text and 'data-urgency="overdue"' in queue.text
    assert "已超期" in queue.text
    assert f'data-case="{number}"' not in client.get("/cases/queue?due=ok").text
    assert "Tasks for this node" not in client.get("/cases/queue?lang=en").text  # a clerk has no tasks


def test_notifications_page_and_badge(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.q"))
    head_user = add(env, Role.OFFICE_HEAD, "head.q")
    r = client.post(
        "/api/v1/cases",
        json={"matter": "CERT", "id_number": "11010519491231002X"},
        headers={"X-CSRF-Token": csrf},
    )
    number = r.json()["number"]
    env.clock.advance(timedelta(days=90))
    sweep_deadlines(env.node, deliver=False)
    head, hcsrf = signed_in(env, head_user)  # a fresh session, months later
    queue = head.get("/cases/queue?lang=en")
    assert "Notifications (1)" in queue.text
    page = head.get("/cases/notifications?lang=en")
    assert number in page.text and "passed its deadline" in page.text
    item = head.get("/api/v1/cases/notifications").json()[0]
    assert head.post(f"/cases/notifications/{item['id']}/read", data={"csrf_token": hcsrf}).status_code == 303
    assert "Notifications (1)" not in head.get("/cases/queue?lang=en").text
