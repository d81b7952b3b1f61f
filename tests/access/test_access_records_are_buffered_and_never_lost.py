"""Access records are committed in groups, bounded, flushed on demand and on shutdown, never lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tongban.access import store
from tongban.access.accesslog import ViewBuffer
from tongban.access.domain import Principal, PrincipalKind, Role
from tongban.access.web import VIEW_SERVICE
from tongban.core.clock import FixedClock
from tongban.core.db import Database

from .helpers import T0, add, make_env, signed_in

CLERK = Principal(
    id="7",
    kind=PrincipalKind.STAFF,
    role=Role.WINDOW_CLERK,
    display_name="c",
    node="110000",
    division_code="110105",
    office_code="OFF-A",
)


def _count(db: Database) -> int:
    with db.session() as s:
        return store.count_views(s)


def _rec(buf: ViewBuffer, i: int) -> None:
    buf.record(
        CLERK,
        person_ref=f"p-{i}",
        person_division="110105",
        reason="search",
        reason_ref=None,
        action="registry.person.read",
    )


def test_records_wait_in_the_buffer_until_flushed(database: Database) -> None:
    buf = ViewBuffer(database, FixedClock(T0), batch=50, max_pending=1000)
    for i in range(10):
        _rec(buf, i)
    assert _count(database) == 0 and buf.pending == 10
    assert buf.flush() == 10
    assert _count(database) == 10 and buf.pending == 0


def test_a_full_buffer_flushes_in_the_recording_thread(database: Database) -> None:
    buf = ViewBuffer(database, FixedClock(T0), batch=5, max_pending=20)
    buf.start()
    buf._stop.set()  # a stalled flusher: only back-pressure can commit
    buf._wake.set()
    assert buf._thread is not None
    buf._thread.join(2)
    for i in range(20):
        _rec(buf, i)
    assert _count(database) == 20 and buf.pending == 0


def test_the_flusher_commits_in_groups(database: Database) -> None:
    buf = ViewBuffer(database, FixedClock(T0), interval_s=0.05, batch=100, max_pending=10_000)
    buf.start()
    threads = [
        threading.Thread(target=lambda k=k: [_rec(buf, k * 100 + i) for i in range(50)]) for k in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 5
    while _count(database) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    buf.stop()
    assert _count(database) == 200


def test_a_failed_commit_keeps_its_records(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    buf = ViewBuffer(database, FixedClock(T0), batch=100)
    for i in range(3):
        _rec(buf, i)
    real = store.add_views

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("database away")

    monkeypatch.setattr(store, "add_views", broken)
    with pytest.raises(RuntimeError):
        buf.flush()
    assert buf.pending == 3 and _count(database) == 0
    monkeypatch.setattr(store, "add_views", real)
    assert buf.flush() == 3


def test_stopping_the_app_commits_what_is_buffered(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    buf = ViewBuffer(env.db, env.clock, interval_s=60, batch=10_000)
    buf.start()
    env.node.services[VIEW_SERVICE] = buf
    with TestClient(env.app):
        for i in range(25):
            _rec(buf, i)
        assert _count(database) == 0
    assert _count(database) == 25


def test_supervisors_review_records_in_their_scope_and_citizens_see_theirs(
    database: Database, tmp_path: Path
) -> None:
    env = make_env(database, tmp_path)
    clerk = add(env, Role.WINDOW_CLERK, "clerk", division="110105")
    far_clerk = add(env, Role.WINDOW_CLERK, "far", division="110228", office="OFF-Z")
    supervisor = add(env, Role.COUNTY_SUPERVISOR, "sup", division="110105", office="SUP")
    far_supervisor = add(env, Role.COUNTY_SUPERVISOR, "sup2", division="110108", office="SUP2")
    citizen = add(env, Role.CITIZEN, "cit", person="p-1")
    buf = ViewBuffer(env.db, env.clock)
    env.node.services[VIEW_SERVICE] = buf
    for who in (clerk, far_clerk):
        p = who.principal("110000")
        buf.record(
            p,
            person_ref="p-1",
            person_division="110105",
            reason="case",
            reason_ref="CASE-9",
            action="registry.person.read",
        )
    buf.record(
        far_clerk.principal("110000"),
        person_ref="p-7",
        person_division="110228",
        reason="search",
        reason_ref="s-1",
        action="registry.person.read",
    )
    buf.flush()

    client, _ = signed_in(env, supervisor)
    rows = client.get("/api/v1/access/views").json()
    assert sorted(r["person_ref"] for r in rows) == ["p-1", "p-1"]  # views of persons in the county
    page = client.get("/access/views")
    assert page.status_code == 200 and "CASE-9" in page.text and "p-7" not in page.text
    client, _ = signed_in(env, far_supervisor)
    assert client.get("/api/v1/access/views").json() == []

    client, _ = signed_in(env, citizen)
    mine = client.get("/api/v1/access/my-views").json()
    assert len(mine) == 2 and {m["reason_ref"] for m in mine} == {"CASE-9"}
    page = client.get("/access/my-views", headers={"accept": "text/html"})
    assert page.status_code == 200 and "CASE-9" in page.text
    assert client.get("/access/views").status_code == 403
