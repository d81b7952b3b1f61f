"""The maintained registry counts always equal a full recount of the current state, per division."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.registry import queries, service, store

from .registry_helpers import ACTOR, NOW, household, person
from .test_registry_export_import_round_trip import build_history, export_text


def maintained(db: Database) -> dict[tuple[str, str], int]:
    with db.session() as s:
        return {(d, st): n for d, st, n in store.counts(s)}


def recounted(db: Database) -> dict[tuple[str, str], int]:
    with db.session() as s:
        return {k: n for k, n in store.recount(s).items() if n}


def test_counts_follow_every_operation(node: NodeContext) -> None:
    assert maintained(node.db) == {} == recounted(node.db)
    build_history(node)  # an import, registrations, a move, a correction, a transit, a death
    assert maintained(node.db) == recounted(node.db)
    in_transit = next(
        p["id_number"]
        for p in map(json.loads, export_text(node.db).splitlines())
        if p["type"] == "journal" and p["event"] == "in_transit"
    )
    service.confirm_moved_out(node, actor=ACTOR, id_number=in_transit, case_ref="MIG-7")
    assert maintained(node.db) == recounted(node.db)
    before = maintained(node.db)
    hh = household(node, "H9", division="110108")
    p = person(node, hh, name="赵六", seq=21)
    service.mark_in_transit(node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-8")
    service.restore_registration(node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-8")
    service.correct_household_address(node, actor=ACTOR, household_number=hh, address="新址", reason="x")
    assert maintained(node.db) == recounted(node.db)
    after = maintained(node.db)
    assert after[("110108", "household")] == before[("110108", "household")] + 1
    assert after[("110108", "active")] == before[("110108", "active")] + 1


def test_counts_are_scoped_to_a_county(node: NodeContext) -> None:
    a, b = household(node, "H1"), household(node, "H2", division="110108")
    household(node, "H3", division="110108")
    person(node, a, seq=11)
    gone = person(node, a, name="李四", relation="spouse", seq=12)
    person(node, b, name="王五", seq=13)
    service.cancel_registration(node, actor=ACTOR, id_number=gone.id_number, reason="death")
    county = queries.registry_counts(node, actor=ACTOR, division_prefix="110105")
    assert [d.division_code for d in county.divisions] == ["110105"]
    assert (county.persons, county.households, county.active) == ({"active": 1, "deceased": 1}, 1, 1)
    everyone = queries.registry_counts(node, actor=ACTOR)
    assert (everyone.persons, everyone.households) == ({"active": 2, "deceased": 1}, 3)
    assert queries.registry_counts(node, actor=ACTOR, division_prefix="110101").divisions == ()


def test_an_imported_node_has_the_counts_of_its_source(node: NodeContext, second_database: Database) -> None:
    build_history(node)
    person(node, household(node, "H8"), name="钱七", seq=31, on=date(2021, 1, 1))
    records = [json.loads(line) for line in export_text(node.db).splitlines()]
    from tongban.registry.importing import import_records

    import_records(second_database, records, node_code=node.code, clock=FixedClock(NOW))
    assert maintained(second_database) == maintained(node.db) == recounted(second_database)
    copy = dataclasses.replace(node, db=second_database)
    assert queries.registry_counts(copy, actor=ACTOR) == queries.registry_counts(node, actor=ACTOR)


def test_moves_in_opposite_directions_at_once_keep_counts_right(pg_url: str, tmp_path: Path) -> None:
    """Counter rows are written at commit in key order: crossing moves neither deadlock nor drift."""
    settings = Settings(data_dir=tmp_path, db_pool_size=6)
    db = Database(pg_url, settings)
    node = NodeContext(code="110000", name="北京市", db=db, settings=settings, clock=FixedClock(NOW))
    try:
        homes = {"110105": ["A1", "A2"], "110108": ["B1", "B2"]}
        for division, numbers in homes.items():
            for number in numbers:
                household(node, number, division=division)
        movers = {
            "A1": person(node, "A1", seq=11).id_number,
            "B1": person(node, "B1", name="李四", seq=13).id_number,
        }
        errors: list[BaseException] = []

        def shuttle(id_number: str, route: list[str]) -> None:
            try:
                for i in range(12):
                    service.move_within_node(
                        node, actor=ACTOR, id_number=id_number, to_household=route[i % 2], relation="head",
                        reason="往返", on_date=date(2021, 1, 1),
                    )  # fmt: skip
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=shuttle, args=(movers["A1"], ["B2", "A1"])),
            threading.Thread(target=shuttle, args=(movers["B1"], ["A2", "B1"])),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert maintained(db) == recounted(db)
        assert {d.division_code: d.active for d in queries.registry_counts(node, actor=ACTOR).divisions} == {
            "110105": 1,
            "110108": 1,
        }
    finally:
        db.dispose()


def test_the_migration_fills_the_counts_of_a_node_with_records(node: NodeContext) -> None:
    from alembic import command

    from tongban.core import migrate

    build_history(node)
    expected = maintained(node.db)
    cfg = migrate.alembic_config()
    with node.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "87df22b826b3")  # the registry before the counts existed
    node.db.engine.dispose()
    with node.db.engine.connect() as conn:
        assert "registry_counts" not in sa.inspect(conn).get_table_names()
    migrate.upgrade(node.db)
    assert maintained(node.db) == expected == recounted(node.db)
