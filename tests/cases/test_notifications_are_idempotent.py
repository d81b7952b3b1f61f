"""Notifications: one row per idempotency key however often the cause is retried; SMS and e-mail go out at
least once through the adapter, and a re-send after a crash leaves one line in the file outbox; texts are in
the recipient's language; the deadline sweep tells supervisors of newly overdue cases, once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from tests.access.helpers import Env, add, make_env, signed_in

from tongban.access.domain import Role
from tongban.cases import notify
from tongban.cases.jobs import sweep_deadlines
from tongban.cases.notify import FileOutbox, Message
from tongban.cases.tables import NotificationRow
from tongban.core.db import Database


def rows(env: Env, channel: str | None = None) -> int:
    with env.db.session() as s:
        q = select(func.count()).select_from(NotificationRow)
        if channel:
            q = q.where(NotificationRow.channel == channel)
        return int(s.scalar(q) or 0)


def test_same_key_twice_records_once(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    now = env.clock.now()
    inserted = []
    for _ in range(2):
        with env.db.transaction() as s:
            inserted.append(
                notify.notify(
                    s,
                    key="case:X:accepted:sms",
                    channel=notify.SMS,
                    recipient="applicant:X",
                    address="13800000000",
                    locale="en",
                    message=notify.CASE_ACCEPTED,
                    params={"number": "X", "due": "2026-03-20"},
                    now=now,
                )
            )
    assert rows(env) == 1
    assert inserted == [True, False]  # the caller learns the second was a duplicate, on both backends


class FlakySender:
    """Sends, then fails to report it once: the row stays unsent and is sent again."""

    def __init__(self, inner: FileOutbox) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, message: Message) -> None:
        self.calls += 1
        self.inner.send(message)
        if self.calls == 1:
            raise ConnectionError("gateway timed out after accepting")


def test_acceptance_messages_go_out_once_in_the_applicants_language(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.n"))
    r = client.post(
        "/api/v1/cases",
        json={
            "matter": "MIG-SPOUSE",
            "id_number": "11010519491231002X",
            "phone": "13800000000",
            "email": "applicant@example.org",
            "locale": "en",
        },
        headers={"X-CSRF-Token": csrf},
    )
    number = r.json()["number"]
    assert rows(env, notify.SMS) == 1 and rows(env, notify.EMAIL) == 1
    outbox = FileOutbox(tmp_path / "outbox")
    flaky = FlakySender(outbox)
    first = notify.deliver_pending(env.node, sender=flaky)
    assert (first.sent, first.failed) == (1, 1)
    again = notify.deliver_pending(env.node, sender=flaky)  # the failed one is retried
    assert (again.sent, again.failed) == (1, 0)
    assert notify.deliver_pending(env.node, sender=flaky).sent == 0  # nothing left
    # A fresh outbox (a restarted process) still recognises the keys already written.
    FileOutbox(tmp_path / "outbox").send(
        Message(f"case:{number}:accepted:sms", "sms", "13800000000", "en", "dup", number)
    )
    lines = [json.loads(x) for p in (tmp_path / "outbox").glob("*.jsonl") for x in p.read_text().splitlines()]
    assert sorted(x["channel"] for x in lines) == ["email", "sms"]
    assert all(x["text"].startswith(f"Your application {number} was accepted") for x in lines)
    assert all(x["key"].startswith(f"case:{number}:accepted") for x in lines)


def test_sweep_tells_supervisors_of_overdue_cases_once(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.s"))
    head = add(env, Role.OFFICE_HEAD, "head.s")
    sup = add(env, Role.COUNTY_SUPERVISOR, "sup.s", office="OFF-JD")
    far = add(env, Role.COUNTY_SUPERVISOR, "sup.far", division="110108", office="OFF-HD")
    number = client.post(
        "/api/v1/cases",
        json={"matter": "CERT", "id_number": "11010519491231002X"},
        headers={"X-CSRF-Token": csrf},
    ).json()["number"]
    env.clock.advance(timedelta(days=90))
    result = sweep_deadlines(env.node, deliver=False)
    assert result.cases_overdue == [number]
    assert sweep_deadlines(env.node, deliver=False).cases_overdue == []
    assert rows(env, notify.APP) == 2  # the office head and the county supervisor; not the other county
    zh = notify.inbox(env.node, user_id=str(sup.id), locale="zh_CN")
    assert len(zh) == 1 and number in zh[0].text and "已超过办理期限" in zh[0].text
    en = notify.inbox(env.node, user_id=str(head.id), locale="en")
    assert "passed its deadline" in en[0].text
    assert notify.inbox(env.node, user_id=str(far.id), locale="en") == []
    assert notify.unread_count(env.node, user_id=str(sup.id)) == 1
    assert not notify.mark_read(env.node, user_id=str(head.id), notification_id=zh[0].id)  # not theirs
    assert notify.mark_read(env.node, user_id=str(sup.id), notification_id=zh[0].id)
    assert notify.unread_count(env.node, user_id=str(sup.id)) == 0


def test_applicant_hears_once_when_the_materials_wait_runs_out(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.x"))
    h = {"X-CSRF-Token": csrf}
    number = client.post(
        "/api/v1/cases",
        json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X", "phone": "13900000000"},
        headers=h,
    ).json()["number"]
    r = client.post(
        f"/api/v1/cases/{number}/actions",
        json={"action": "request_materials", "missing": ["marriage_certificate"]},
        headers=h,
    )
    assert r.status_code == 200
    assert rows(env, notify.SMS) == 2  # accepted, materials requested
    env.clock.advance(timedelta(days=200))
    outbox = FileOutbox(tmp_path / "outbox")
    env.node.services[notify.SENDER_SERVICE] = outbox
    result = sweep_deadlines(env.node)
    assert result.cases_closed == [number] and result.messages_sent == 3
    assert sweep_deadlines(env.node).messages_sent == 0
    texts = [json.loads(x)["text"] for x in outbox.path("sms").read_text(encoding="utf-8").splitlines()]
    assert len(texts) == 3
    assert "需补充材料" in texts[1] and "结婚证" in texts[1]
    assert texts[2] == f"办件 {number} 已办结：未补齐材料。"
