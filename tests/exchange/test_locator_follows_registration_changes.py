"""The national locator: keyed digests to the current node, updated through the exchange, answered to signed
questions, never storing an ID number or a name; a late update of an older change does not win."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange_support import Nation, node_settings, wait_until
from sqlalchemy import select

import tongban.exchange.service as service
from tongban.core.db import Database
from tongban.exchange import directory_admin
from tongban.exchange.domain import types
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import (
    LOCATOR_CODE,
    answer_for,
    ask_locator,
    id_digest,
    locator_key,
    report_registration,
)
from tongban.exchange.tables import InboxRow, LocatorEntryRow
from tongban.exchange.transport import EmbeddedTransport

ID_NUMBER = "11010519491231002X"  # synthetic


def test_locator(
    nation: Nation, database: Database, other_db: Database, tmp_path: Path, sqlite_template: Path
) -> None:
    directory_admin.add_node(
        nation.data_dir, code=LOCATOR_CODE, name="全国人口定位", now=datetime.now(UTC) - timedelta(hours=1)
    )
    shutil.copyfile(sqlite_template, tmp_path / "locator.sqlite3")
    locator_db = Database(f"sqlite:///{tmp_path / 'locator.sqlite3'}", node_settings(tmp_path))
    nodes = [
        nation.exchange(code, db, registry=types, handlers=service._handlers)
        for code, db in (("110000", database), ("310000", other_db), (LOCATOR_CODE, locator_db))
    ]
    bj, sh, loc = nodes
    runner = ExchangeRunner(nodes, EmbeddedTransport)
    runner.start()
    t0 = datetime.now(UTC) - timedelta(days=30)
    digest = id_digest(locator_key(nation.data_dir), ID_NUMBER)
    try:
        with bj.node.db.transaction() as s:
            report_registration(s, node=bj.node, id_number=ID_NUMBER, changed_at=t0)
        assert wait_until(lambda: _entry(locator_db, digest) == ("110000", "registered"), 15)
        # The person moves to Shanghai; then a late update of an older change arrives from Beijing.
        with sh.node.db.transaction() as s:
            report_registration(s, node=sh.node, id_number=ID_NUMBER, changed_at=t0 + timedelta(days=10))
        assert wait_until(lambda: _entry(locator_db, digest) == ("310000", "registered"), 15)
        with bj.node.db.transaction() as s:
            report_registration(s, node=bj.node, id_number=ID_NUMBER, changed_at=t0 + timedelta(days=5))
        assert wait_until(lambda: _applied(locator_db) == 3, 15)
        assert _entry(locator_db, digest) == ("310000", "registered")
        # Beijing asks where the person is now.
        with bj.node.db.transaction() as s:
            question = ask_locator(s, node=bj.node, id_number=ID_NUMBER)
        assert wait_until(lambda: _answer(database, question) is not None, 15)
        assert _answer(database, question) == ("310000", "registered")
        with bj.node.db.transaction() as s:
            unknown = ask_locator(s, node=bj.node, id_number="110105194912310037")
        assert wait_until(lambda: _answer(database, unknown) is not None, 15)
        assert _answer(database, unknown) == (None, "unknown")
    finally:
        runner.stop()
    # The locator holds digests only: no ID number anywhere in what it stored.
    with locator_db.session() as s:
        raws = list(s.scalars(select(InboxRow.raw)))
    assert raws and all(ID_NUMBER.encode() not in r for r in raws)
    assert loc.code == LOCATOR_CODE
    locator_db.dispose()


def _entry(db: Database, digest: str) -> tuple[str, str] | None:
    with db.session() as s:
        row = s.get(LocatorEntryRow, digest)
        return None if row is None else (row.node, row.status)


def _applied(db: Database) -> int:
    with db.session() as s:
        return len(
            list(
                s.scalars(
                    select(InboxRow.seq).where(
                        InboxRow.state == "applied", InboxRow.type == "locator.update.v1"
                    )
                )
            )
        )


def _answer(db: Database, question: object) -> tuple[str | None, str] | None:
    with db.session() as s:
        row = answer_for(s, question)  # type: ignore[arg-type]
        return None if row is None else (row.node, row.status)
