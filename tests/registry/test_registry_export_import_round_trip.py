"""Exporting a node and importing the export into an empty node reproduces it exactly."""

from __future__ import annotations

import dataclasses
from datetime import date

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.registry import queries, service
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
    # the household journal: a head change (persons named by surrogate id inside) and an address correction
    c = household(node, "H3")
    person(node, c, name="李四", seq=17, on=date(2015, 1, 1))
    son = person(node, c, name="李小四", relation="child", seq=19, born=date(2000, 1, 1), on=date(2015, 1, 1))
    service.change_household_head(
        node, actor=ACTOR, household_number=c, new_head_id_number=son.id_number, reason="户主变更",
        old_head_relation="parent", on_date=date(2023, 3, 3),
    )  # fmt: skip
    service.correct_household_address(
        node, actor=ACTOR, household_number=c, address="朝阳区新路2号", reason="门牌调整",
        on_date=date(2024, 4, 4), case_ref="HH-1",
    )  # fmt: skip


def son_number(records: list[dict[str, object]]) -> object:
    return next(r["id_number"] for r in records if r.get("name") == "李小四")


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
            mine = queries.get_person(node, actor=ACTOR, id_number=line["id_number"])
            theirs = queries.get_person(copy, actor=ACTOR, id_number=line["id_number"])
            assert dataclasses.replace(mine, person_id=0) == dataclasses.replace(theirs, person_id=0)
        if line["type"] == "household":
            mine_h = queries.get_household(node, actor=ACTOR, number=line["number"])
            theirs_h = queries.get_household(copy, actor=ACTOR, number=line["number"])
            assert [m.id_number for m in mine_h.members] == [m.id_number for m in theirs_h.members]
            assert (mine_h.head_person_id is None) == (theirs_h.head_person_id is None)
    hits = queries.search_persons(copy, actor=ACTOR, query="zengji") + queries.search_persons(
        copy, actor=ACTOR, query="曾"
    )
    assert "曾𠮷" in {h.name for h in hits}
    assert "in_transit" in first and "deceased" in first and '"old":"01"' in first
    household_lines = [r for r in records if r["type"] == "household_journal"]
    assert [(r["household"], r["seq"], r["event"]) for r in household_lines] == [
        ("H3", 1, "head_changed"),
        ("H3", 2, "address_corrected"),
    ]
    assert household_lines[0]["detail"]["new_head_id_number"] == son_number(records)
    theirs_journal = queries.household_journal(copy, actor=ACTOR, number="H3")
    mine_journal = queries.household_journal(node, actor=ACTOR, number="H3")
    assert [(e.seq, e.event, e.on_date, e.reason, e.case_ref, e.actor) for e in theirs_journal] == [
        (e.seq, e.event, e.on_date, e.reason, e.case_ref, e.actor) for e in mine_journal
    ]
    son_there = queries.get_person(copy, actor=ACTOR, id_number=str(son_number(records)))
    assert theirs_journal[0].detail is not None
    assert theirs_journal[0].detail["new_head_person_id"] == son_there.person_id
    assert theirs_journal[1].detail == mine_journal[1].detail
