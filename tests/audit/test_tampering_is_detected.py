"""Edits, deletions, insertions and reorderings of audit rows are reported by ``tongban audit verify``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tongban.audit import domain
from tongban.audit.jobs import seal_pending
from tongban.audit.service import record_audit
from tongban.audit.verify import verify_chain
from tongban.cli import app
from tongban.core.clock import FixedClock
from tongban.core.db import Database

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def fill(db: Database, n: int, clock: FixedClock, *, seal_every: int = 4) -> None:
    for i in range(n):
        with db.transaction() as s:
            record_audit(
                s,
                actor=f"user:{i % 3}",
                action="registry.person.update",
                object_type="person",
                object_id=f"p-{i}",
                change={"status": "active", "n": i},
                at=T0 + timedelta(seconds=i),
            )
        if (i + 1) % seal_every == 0:
            clock.advance(timedelta(seconds=5))
            seal_pending(db, clock=clock, batch_size=3)
    seal_pending(db, clock=clock, batch_size=3)


def verify_cli(db: Database) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", db.url])
    return result.exit_code, result.output


def sql(db: Database, *statements: str) -> None:
    with db.engine.begin() as conn:
        for stmt in statements:
            conn.execute(sa.text(stmt))


def drop_guards(db: Database) -> None:
    """What an intruder with schema rights does first: remove the triggers that refuse changes."""
    if db.backend == "postgresql":
        sql(
            db,
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_guard",
            "ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_guard",
        )
    else:
        sql(
            db,
            *(
                f"DROP TRIGGER {t}"
                for t in (
                    "audit_log_no_delete",
                    "audit_log_seal_once",
                    "audit_seals_no_change",
                    "audit_seals_no_delete",
                )
            ),
        )


@pytest.fixture
def chained(database: Database) -> Database:
    fill(database, 10, FixedClock(T0))
    code, out = verify_cli(database)
    assert code == 0, out
    assert "10 sealed" in out
    return database


def test_an_intact_chain_verifies_and_pending_rows_are_not_faults(database: Database) -> None:
    clock = FixedClock(T0)
    fill(database, 7, clock)
    with database.transaction() as s:
        record_audit(s, actor="u", action="a.b.c", object_type="t", object_id="x", change=None, at=T0)
    with database.session() as s:
        report = verify_chain(s)
    assert report.ok, report.faults
    assert (report.sealed, report.pending, report.head_pos) == (7, 1, 7)


def _edit(db: Database) -> None:
    sql(db, "UPDATE audit_log SET actor = 'user:evil' WHERE chain_pos = 4")


def _edit_time(db: Database) -> None:
    with db.engine.begin() as conn:
        at = conn.execute(sa.text("SELECT at FROM audit_log WHERE chain_pos = 6")).scalar_one()
        conn.execute(sa.text("UPDATE audit_log SET object_id = 'p-x' WHERE chain_pos = 6"))
        assert at is not None


def _delete_middle(db: Database) -> None:
    sql(db, "DELETE FROM audit_log WHERE chain_pos = 5")


def _delete_last(db: Database) -> None:
    sql(db, "DELETE FROM audit_log WHERE chain_pos >= 9")


def _delete_first(db: Database) -> None:
    sql(db, "DELETE FROM audit_log WHERE chain_pos = 1")


def _reorder(db: Database) -> None:
    # Swap the chain positions of rows 3 and 4, through a free position (positions are unique).
    sql(
        db,
        "UPDATE audit_log SET chain_pos = 1000 WHERE chain_pos = 3",
        "UPDATE audit_log SET chain_pos = 3 WHERE chain_pos = 4",
        "UPDATE audit_log SET chain_pos = 4 WHERE chain_pos = 1000",
    )


def _reorder_seq(db: Database) -> None:
    # Swap the seq numbers (the order rows were written) of two sealed rows, keeping everything else.
    with db.engine.begin() as conn:
        s7 = conn.execute(sa.text("SELECT seq FROM audit_log WHERE chain_pos = 7")).scalar_one()
        conn.execute(sa.text("UPDATE audit_log SET seq = 2000 WHERE chain_pos = 7"))
        conn.execute(sa.text("UPDATE audit_log SET seq = :s WHERE chain_pos = 2"), {"s": s7})
        conn.execute(sa.text("UPDATE audit_log SET seq = 2 WHERE chain_pos = 7"))


def _insert_middle(db: Database) -> None:
    # Make room after position 5 and insert a forged row there, with a hash computed like the sealer's.
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET chain_pos = chain_pos + 100 WHERE chain_pos > 5"))
        conn.execute(sa.text("UPDATE audit_log SET chain_pos = chain_pos - 99 WHERE chain_pos > 100"))
        prev = conn.execute(sa.text("SELECT row_hash FROM audit_log WHERE chain_pos = 5")).scalar_one()
        _forge(conn, db, pos=6, prev=prev)


def _insert_end(db: Database) -> None:
    # Append a forged row whose hash links correctly to the last one: only the seal checkpoint betrays it.
    with db.engine.begin() as conn:
        prev = conn.execute(sa.text("SELECT row_hash FROM audit_log WHERE chain_pos = 10")).scalar_one()
        _forge(conn, db, pos=11, prev=prev)


def _forge(conn: sa.Connection, db: Database, *, pos: int, prev: str) -> None:
    sealed = T0 + timedelta(hours=1)
    content = domain.RowContent(
        seq=500,
        at=T0,
        actor="user:evil",
        action="registry.person.read",
        object_type="person",
        object_id="p-forged",
        change_digest=None,
        change_salt=None,
        change_summary=None,
        chain_pos=pos,
        sealed_at=sealed,
    )
    from tongban.audit.tables import AuditRow

    conn.execute(
        sa.insert(AuditRow).values(
            seq=500,
            at=T0,
            actor="user:evil",
            action="registry.person.read",
            object_type="person",
            object_id="p-forged",
            chain_pos=pos,
            prev_hash=prev,
            row_hash=domain.row_hash(content, prev),
            sealed_at=sealed,
        )
    )


def _erase_chain_columns(db: Database) -> None:
    sql(db, "UPDATE audit_log SET chain_pos = NULL WHERE chain_pos = 10")


def _rewrite_a_hash(db: Database) -> None:
    sql(db, "UPDATE audit_log SET row_hash = 'ffff' WHERE chain_pos = 2")


TAMPERING: dict[str, tuple[Callable[[Database], None], str]] = {
    "edit": (_edit, "position 4"),
    "edit-object": (_edit_time, "position 6"),
    "delete-middle": (_delete_middle, "position 6"),
    "delete-first": (_delete_first, "position 2"),
    "delete-last": (_delete_last, "position 9"),
    "reorder-positions": (_reorder, "position 3"),
    "reorder-seq": (_reorder_seq, "position 2"),
    "insert-middle": (_insert_middle, "position 7"),
    "insert-end": (_insert_end, "position 11"),
    "erase-chain-columns": (_erase_chain_columns, "position 10"),
    "rewrite-hash": (_rewrite_a_hash, "position 2"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_reported_with_its_first_broken_link(chained: Database, kind: str) -> None:
    tamper, where = TAMPERING[kind]
    drop_guards(chained)
    tamper(chained)
    code, out = verify_cli(chained)
    assert code == 1, out
    assert "BROKEN" in out
    assert f"first broken link at {where}" in out, out


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'user:evil' WHERE chain_pos = 4",
        "UPDATE audit_log SET row_hash = 'ffff' WHERE chain_pos = 4",
        "DELETE FROM audit_log WHERE chain_pos = 10",
        "DELETE FROM audit_seals",
        "UPDATE audit_seals SET head_hash = 'x'",
    ],
)
def test_the_database_refuses_changes_to_audit_rows(chained: Database, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError):
        sql(chained, statement)
    code, out = verify_cli(chained)
    assert code == 0, out


def test_unsealed_rows_cannot_be_edited_either(database: Database) -> None:
    with database.transaction() as s:
        record_audit(s, actor="u", action="a.b.c", object_type="t", object_id="1", change=None, at=T0)
    with pytest.raises(sa.exc.DBAPIError):
        sql(database, "UPDATE audit_log SET actor = 'x'")
