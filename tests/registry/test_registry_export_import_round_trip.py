"""Exporting a node and importing the export into an empty node reproduces it exactly."""

from __future__ import annotations

import dataclasses
from datetime import date

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.registry import service
from tongban.registry.exporting import dump_line, export_records
from tongban.registry.importing import import_records
from tongban.registry.synthetic import synthetic_records

from .registry_helpers import ACTOR, NOW, household, person


def build_history(node: NodeContext) -> None:
    import_records(node.db, synthetic_records(60, node_code=node.code, seed=3), node_code=node.code)
    a, b = household(node, "H1"), household(node, "H2", division="110108")
    household(node, "C1", kind="collective")
    household(node, "EMPTY")
    head = person(node, a, name="阿依古丽·买买提", on=date(2010, 1, 1))
    kid = person(node, a, name="曾𠮷", relation="child", seq=13, born=date(2012, 2, 2), on=date(2012, 3, 1))
    mover = person(node, a, name="单乐", relation="spouse", seq=12, on=date(2010, 1, 1))
    service.move_within_node(
        node, actor=ACTOR, id_number=kid.id_number, to_household=b, relation="head", reason="分户",
        on_date=date(2020, 5, 5),
    )  # fmt: skip
    service.correct_person(
        node,
        actor=ACTOR,
        id_number=head.id_number,
        changes={"ethnicity": "03"},
        reason="核实",
        case_ref="C-1",
    )
    service.mark_in_transit(
        node, actor=ACTOR, id_number=mover.id_number, case_ref="MIG-7", on_date=date(2026, 1, 2)
    )
    gone = person(node, b, name="王五", relation="parent", seq=15, born=date(1950, 1, 1), on=date(2021, 1, 1))
    service.cancel_registration(
        node, actor=ACTOR, id_number=gone.id_number, reason="death", note="病故", on_date=date(2025, 12, 1)
    )


def export_text(db: Database) -> str:
    return "".join(dump_line(r) for r in export_records(db))


def test_export_then_import_reproduces_the_node(node: NodeContext, second_database: Database) -> None:
    build_history(node)
    first = export_text(node.db)
    records = [__import__("json").loads(line) for line in first.splitlines()]
    import_records(second_database, records, node_code=node.code, clock=FixedClock(NOW))
    assert export_text(second_database) == first

    copy = dataclasses.replace(node, db=second_database)
    for line in records:
        if line["type"] == "person":
            mine = service.get_person(node, actor=ACTOR, id_number=line["id_number"])
            theirs = service.get_person(copy, actor=ACTOR, id_number=line["id_number"])
            assert dataclasses.replace(mine, person_id=0) == dataclasses.replace(theirs, person_id=0)
        if line["type"] == "household":
            mine_h = service.get_household(node, actor=ACTOR, number=line["number"])
            theirs_h = service.get_household(copy, actor=ACTOR, number=line["number"])
            assert [m.id_number for m in mine_h.members] == [m.id_number for m in theirs_h.members]
            assert (mine_h.head_person_id is None) == (theirs_h.head_person_id is None)
    hits = service.search_persons(copy, actor=ACTOR, query="zengji") + service.search_persons(
        copy, actor=ACTOR, query="曾"
    )
    assert "曾𠮷" in {h.name for h in hits}
    assert "in_transit" in first and "deceased" in first and '"old":"01"' in first
