"""An audit row is written in the caller's transaction and keeps no personal value in clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from tongban.audit import store as audit_store
from tongban.audit.service import change_matches, record_audit
from tongban.audit.tables import AuditRow
from tongban.core.db import Database

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CHANGE = {
    "id_number": "11010519491231002X",
    "name": "张三",
    "status": "registered",
    "division_code": "110105",
}


def test_row_commits_with_the_change(database: Database) -> None:
    with database.transaction() as s:
        record_audit(
            s,
            actor="user:7",
            action="registry.person.create",
            object_type="person",
            object_id="p-1",
            change=CHANGE,
            at=AT,
        )
    with database.session() as s:
        row = s.execute(select(AuditRow)).scalar_one()
        s.expunge(row)
    assert (row.actor, row.action, row.object_type, row.object_id, row.at) == (
        "user:7",
        "registry.person.create",
        "person",
        "p-1",
        AT,
    )
    assert row.chain_pos is None and row.row_hash is None
    stored = " ".join(str(v) for v in (row.change_summary, row.change_digest, row.change_salt))
    assert "11010519491231002X" not in stored and "张三" not in stored
    summary = json.loads(row.change_summary or "")
    assert summary == {
        "fields": ["division_code", "id_number", "name", "status"],
        "values": {"division_code": "110105", "status": "registered"},
    }
    assert row.change_digest and row.change_salt
    assert change_matches(CHANGE, digest=row.change_digest, salt=row.change_salt)
    assert not change_matches({**CHANGE, "name": "李四"}, digest=row.change_digest, salt=row.change_salt)


def test_row_rolls_back_with_the_change(database: Database) -> None:
    with pytest.raises(RuntimeError), database.transaction() as s:
        record_audit(s, actor="user:7", action="x.y.z", object_type="t", object_id="1", change=None, at=AT)
        raise RuntimeError("the change failed")
    with database.session() as s:
        assert s.execute(select(AuditRow)).first() is None


def test_naive_time_is_refused(database: Database) -> None:
    with pytest.raises(ValueError), database.transaction() as s:
        record_audit(
            s, actor="a", action="b", object_type="c", object_id="d", change=None, at=datetime(2026, 1, 1)
        )


def _audit(s: Any, object_id: str) -> None:
    record_audit(s, actor="user:7", action="x.y.z", object_type="t", object_id=object_id, change=None, at=AT)


def _ids(database: Database) -> list[str]:
    with database.session() as s:
        return list(s.scalars(select(AuditRow.object_id).order_by(AuditRow.seq)))


def test_a_transactions_rows_are_written_by_one_statement_at_commit(database: Database) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "audit_log" in statement:
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        with database.transaction() as s:
            for i in range(25):
                _audit(s, f"o-{i}")
            assert statements == []  # nothing written before the commit
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    assert _ids(database) == [f"o-{i}" for i in range(25)]


def test_rows_of_a_rolled_back_savepoint_are_dropped_with_it(database: Database) -> None:
    with database.transaction() as s:
        _audit(s, "before")
        with s.begin_nested():
            _audit(s, "released")
        with pytest.raises(RuntimeError), s.begin_nested():
            _audit(s, "rolled-back")
            with s.begin_nested():
                _audit(s, "inner-of-rolled-back")
            raise RuntimeError("this case failed")
        with s.begin_nested():
            with pytest.raises(RuntimeError), s.begin_nested():
                _audit(s, "inner-rolled-back")
                raise RuntimeError("inner failed")
            _audit(s, "outer-kept")
        _audit(s, "after")
    assert _ids(database) == ["before", "released", "outer-kept", "after"]


def test_a_session_reused_after_a_rollback_writes_only_its_new_rows(database: Database) -> None:
    with database.session() as s:
        _audit(s, "lost")
        s.rollback()
        _audit(s, "kept")
        s.commit()
        _audit(s, "second")
        s.commit()
        _audit(s, "closed-unwritten")
        s.close()
        s.commit()
    assert _ids(database) == ["kept", "second"]


def test_the_audits_readers_see_the_transactions_own_rows(database: Database) -> None:
    with database.transaction() as s:
        _audit(s, "mine")
        assert audit_store.pending_count(s) == 1
        assert [r.object_id for r in audit_store.recent(s)] == ["mine"]
        assert audit_store.count_rows(s) == 1
        assert audit_store.pending_count(s) == 0
    assert _ids(database) == ["mine"]
