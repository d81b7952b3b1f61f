"""The maintained registry counts always equal a full recount of the current state, per division."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
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
