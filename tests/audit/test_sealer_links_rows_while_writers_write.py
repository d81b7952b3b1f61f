"""The sealer links rows in batches while writers keep writing; nobody waits on the chain head."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from tongban.audit import domain
from tongban.audit.jobs import Sealer, current_head, seal_pending
from tongban.audit.service import record_audit, record_batch
from tongban.audit.tables import AuditRow
from tongban.audit.verify import verify_chain
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.web.app import Runtime


def test_concurrent_writers_and_a_running_sealer(database: Database) -> None:
    sealer = Sealer(database, SystemClock(), interval_s=0.01, batch_size=7)
    sealer.start()
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(25):
                with database.transaction() as s:
                    record_audit(
                        s,
                        actor=f"user:{k}",
                        action="cases.case.update",
                        object_type="case",
                        object_id=f"c-{k}-{i}",
                        change={"status": "open"},
                        at=datetime.now(UTC),
                    )
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sealer.stop()
    assert not errors
    with database.session() as s:
        report = verify_chain(s)
    assert report.ok, report.faults
    assert (report.sealed, report.pending) == (100, 0)
    head = current_head(database, node="110000")
    assert (head.pos, head.hash) == (100, report.head_hash)
    assert b'"type":"audit.head.v1"' in head.statement() and head.hash.encode() in head.statement()


def test_two_sealers_racing_never_fork_the_chain(database: Database) -> None:
    for i in range(60):
        with database.transaction() as s:
            record_audit(
                s,
                actor="u",
                action="a.b.c",
                object_type="t",
                object_id=str(i),
                change=None,
                at=datetime.now(UTC),
            )
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(seal_pending(database, clock=SystemClock(), batch_size=5))
        except Exception as exc:  # the loser of a race fails its transaction; that is the point
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seal_pending(database, clock=SystemClock())
    with database.session() as s:
        report = verify_chain(s)
    assert report.ok, report.faults
    assert report.sealed == 60 and report.pending == 0


def test_a_bulk_import_is_audited_once_per_batch(database: Database) -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for b in range(3):
        with database.transaction() as s:
            record_batch(
                s,
                actor="system:import",
                action="registry.import.batch",
                object_type="person",
                batch_id=f"seed-{b}",
                count=1000,
                at=at,
                source="synthetic",
                object_ids=[f"p-{b}-{i}" for i in range(1000)],
            )
    with database.session() as s:
        rows = s.query(AuditRow).order_by(AuditRow.seq).all()
        assert [r.object_id for r in rows] == ["batch:seed-0", "batch:seed-1", "batch:seed-2"]
        assert all('"count":1000' in (r.change_summary or "") for r in rows)
        assert "p-0-1" not in (rows[0].change_summary or "")


def test_the_runtime_starts_and_stops_a_sealer_per_node(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tongban.audit import runtime as audit_runtime
    from tongban.audit.settings import AuditSettings

    settings = Settings(data_dir=tmp_path)
    node = NodeContext(code="110000", name="x", db=database, settings=settings)
    rt = Runtime(
        settings=settings,
        nodes={"110000": node},
        extras={"audit_settings": AuditSettings(seal_interval_s=60)},
    )
    audit_runtime.attach(rt)
    assert isinstance(node.services[audit_runtime.SERVICE], Sealer)
    with database.transaction() as s:
        record_audit(
            s, actor="u", action="a.b.c", object_type="t", object_id="1", change=None, at=datetime.now(UTC)
        )
    audit_runtime.detach(rt)  # seals what is pending on the way out
    assert audit_runtime.SERVICE not in node.services
    assert current_head(database, node="110000").pos == 1


def test_row_hash_covers_every_field() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    base = domain.RowContent(1, at, "a", "b", "c", "d", None, None, None, 1, at)
    h = domain.row_hash(base, domain.GENESIS)
    import dataclasses

    for f in dataclasses.fields(base):
        value = getattr(base, f.name)
        other = (
            value + 1
            if isinstance(value, int)
            else (value.replace(year=2027) if isinstance(value, datetime) else f"{value}x")
        )
        assert domain.row_hash(dataclasses.replace(base, **{f.name: other}), domain.GENESIS) != h, f.name
    assert domain.row_hash(base, "1" * 64) != h


def test_the_head_is_served_to_administrators_only(database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.access.helpers import add, make_env, signed_in
    from tongban.access.domain import Role

    env = make_env(database, tmp_path)
    admin = add(env, Role.PROVINCIAL_ADMIN, "admin", division="110000")
    clerk = add(env, Role.WINDOW_CLERK, "clerk")
    seal_pending(database, clock=SystemClock())
    client, _ = signed_in(env, admin)  # opening a session is audited: one pending row
    body = client.get("/api/v1/audit/head").json()
    assert body["pos"] == 2 and body["pending"] == 1 and body["node"] == "110000"
    assert body["hash"] == current_head(database, node="110000").hash and body["hash"] in body["statement"]
    client, _ = signed_in(env, clerk)
    assert client.get("/api/v1/audit/head").status_code == 403
