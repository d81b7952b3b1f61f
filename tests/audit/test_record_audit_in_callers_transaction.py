"""An audit row is written in the caller's transaction and keeps no personal value in clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

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
