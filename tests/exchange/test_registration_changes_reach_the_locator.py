"""Every registration change of a node with an exchange queues a locator update in the change's transaction;
a change rolled back queues nothing; a bulk import reports in a few batched envelopes that the locator
applies; a node without an exchange reports nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from exchange_support import Nation, node_settings, wait_until
from sqlalchemy import func, select

from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE, UPDATES_PER_ENVELOPE, id_digest, locator_key
from tongban.exchange.runtime import node_exchange
from tongban.exchange.settings import ExchangeSettings
from tongban.exchange.tables import LocatorEntryRow, OutboxRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.idnum.domain import make_id_number
from tongban.registry import service
from tongban.registry.hooks import listener_of
from tongban.registry.importing import import_records
from tongban.registry.synthetic import synthetic_records

ACTOR = "clerk-test"
BORN = date(1990, 5, 17)


def _node(nation: Nation, db: Database, code: str = "110000", *, locator: bool = True) -> NodeContext:
    if locator:
        directory_admin.add_node(
            nation.data_dir, code=LOCATOR_CODE, name="全国人口定位", now=datetime.now(UTC) - timedelta(days=1)
        )
    node = NodeContext(code=code, name=code, db=db, settings=node_settings(nation.data_dir))
    node_exchange(node, nation.data_dir, ExchangeSettings())
    return node


def _updates(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [
            tuple(r)
            for r in s.execute(select(OutboxRow.recipient, OutboxRow.type).order_by(OutboxRow.created_at))
        ]


def _register(node: NodeContext, seq: int) -> str:
    number = make_id_number("110105", BORN, seq)
    service.register_person(
        node,
        actor=ACTOR,
        household_number="H0001",
        relation="head" if seq == 11 else "child",
        event="moved_in",
        id_number=number,
        name="张三",
        sex="male" if seq % 2 else "female",
        birth_date=BORN,
        ethnicity="01",
        birthplace="110105",
        on_date=date(2020, 1, 1),
    )
    return number


def test_each_change_queues_one_update_in_its_transaction(
    nation: Nation, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = _node(nation, database)
    service.create_household(
        node, actor=ACTOR, number="H0001", kind="family", address="朝阳区测试路1号", division_code="110105"
    )
    assert _updates(database) == []  # a household alone is no person's registration
    number = _register(node, 11)
    assert _updates(database) == [(LOCATOR_CODE, "locator.update.v1")]
    other = _register(node, 13)
    service.mark_in_transit(node, actor=ACTOR, id_number=other, case_ref="C-1", on_date=date(2021, 1, 1))
    service.restore_registration(node, actor=ACTOR, id_number=other, case_ref="C-1", on_date=date(2021, 1, 2))
    service.mark_in_transit(node, actor=ACTOR, id_number=other, case_ref="C-2", on_date=date(2021, 2, 1))
    service.confirm_moved_out(node, actor=ACTOR, id_number=other, case_ref="C-2", on_date=date(2021, 2, 2))
    assert len(_updates(database)) == 6

    # A change that fails after its report rolls the report back with it.
    def failing_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(service, "_audit", failing_audit)
    with pytest.raises(RuntimeError):
        service.cancel_registration(
            node, actor=ACTOR, id_number=number, reason="emigration", on_date=date(2022, 1, 1)
        )
    assert len(_updates(database)) == 6
    monkeypatch.undo()
    service.cancel_registration(
        node, actor=ACTOR, id_number=number, reason="emigration", on_date=date(2022, 1, 1)
    )
    assert len(_updates(database)) == 7


def test_a_directory_without_the_locator_takes_no_reports(nation: Nation, database: Database) -> None:
    node = _node(nation, database, locator=False)
    assert listener_of(node) is not None
    service.create_household(
        node, actor=ACTOR, number="H0001", kind="family", address="朝阳区测试路1号", division_code="110105"
    )
    _register(node, 11)  # not refused for want of a locator
    assert _updates(database) == []


def test_a_node_without_exchange_reports_nothing(database: Database, tmp_path: Path) -> None:
    node = NodeContext(code="110000", name="北京", db=database, settings=node_settings(tmp_path))
    assert listener_of(node) is None
    service.create_household(
        node, actor=ACTOR, number="H0001", kind="family", address="朝阳区测试路1号", division_code="110105"
    )
    _register(node, 11)
    assert _updates(database) == []


def test_a_bulk_import_reports_in_batches_the_locator_applies(
    nation: Nation, database: Database, tmp_path: Path, sqlite_template: Path
) -> None:
    node = _node(nation, database)
    records = list(synthetic_records(1200, node_code=node.code, seed=5))
    report = import_records(database, records, node_code=node.code, listener=listener_of(node))
    expected = -(-report.persons // UPDATES_PER_ENVELOPE)
    assert report.persons > UPDATES_PER_ENVELOPE
    assert _updates(database) == [(LOCATOR_CODE, "locator.updates.v1")] * expected
    shutil.copyfile(sqlite_template, tmp_path / "locator.sqlite3")
    locator_db = Database(f"sqlite:///{tmp_path / 'locator.sqlite3'}", node_settings(tmp_path))
    locator = NodeContext(
        code=LOCATOR_CODE, name="定位", db=locator_db, settings=node_settings(nation.data_dir)
    )
    runner = ExchangeRunner(
        [node_exchange(locator, nation.data_dir), node.services["exchange"]], EmbeddedTransport
    )
    runner.start()
    try:
        assert wait_until(lambda: _entries(locator_db) == report.persons, 30)
    finally:
        runner.stop()
    imported = [r["id_number"] for r in records if r.get("type") == "person"][:5]
    assert imported
    with locator_db.session() as s:
        assert {
            s.get(LocatorEntryRow, id_digest(locator_key(nation.data_dir), n)).node for n in imported
        } == {"110000"}
        assert set(s.scalars(select(LocatorEntryRow.node))) == {"110000"}
    locator_db.dispose()


def _entries(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(LocatorEntryRow)) or 0)


def test_a_late_move_out_confirmation_does_not_hide_the_new_registration(
    database: Database, tmp_path: Path
) -> None:
    from tongban.exchange.locator import LocatorUpdate, _apply_one

    locator = NodeContext(code=LOCATOR_CODE, name="定位", db=database, settings=node_settings(tmp_path))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    digest = "ab" * 32

    def apply(sender: str, status: str, days: int) -> tuple[str, str]:
        with database.transaction() as s:
            _apply_one(
                s,
                locator,
                sender,
                LocatorUpdate(digest=digest, status=status, changed_at=t0 + timedelta(days=days)),
            )  # type: ignore[arg-type]
        with database.session() as s:
            row = s.get(LocatorEntryRow, digest)
            assert row is not None
            return row.node, row.status

    assert apply("110000", "registered", 0) == ("110000", "registered")
    assert apply("110000", "cancelled", 1) == ("110000", "cancelled")  # in transit at the origin
    assert apply("310000", "registered", 2) == ("310000", "registered")  # moved in at the destination
    assert apply("110000", "cancelled", 3) == ("310000", "registered")  # the origin's moved-out confirmation
    assert apply("310000", "cancelled", 4) == ("310000", "cancelled")  # the destination cancels: it counts


def test_the_import_command_reports_where_the_data_dir_has_a_directory(
    nation: Nation, database: Database, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from tongban.cli import app

    _node(nation, database)  # adds the locator to the directory
    records = list(synthetic_records(12, node_code="110000", seed=5))
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    args = ["registry", "import", str(src), "--node", "110000", "--db", database.url]
    result = CliRunner().invoke(app, [*args, "--data-dir", str(nation.data_dir)])
    assert result.exit_code == 0, result.output
    assert _updates(database) == [(LOCATOR_CODE, "locator.updates.v1")]
