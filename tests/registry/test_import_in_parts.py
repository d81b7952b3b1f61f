"""A chunked import (parts of whole households, one transaction) gives the very node a one-shot import gives,
and still refuses the whole file, naming every bad record, when any part holds one."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import sqlalchemy as sa

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.registry import queries, store
from tongban.registry.exporting import dump_line, export_records
from tongban.registry.importing import PERSON_EARLIER, ImportRefused, import_records
from tongban.registry.synthetic import synthetic_records
from tongban.registry.tables import IdCounter, Person, SearchKey

from .registry_helpers import ACTOR, NOW, new_id


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a load writes, by natural keys (surrogate ids differ between two loads)."""
    with db.session() as s:
        keys = sorted(
            tuple(row)
            for row in s.execute(
                sa.select(SearchKey.key, Person.id_number, SearchKey.division_code).join(
                    Person, Person.id == SearchKey.person_id
                )
            )
        )
        counters = sorted(tuple(row) for row in s.execute(sa.select(
            IdCounter.area, IdCounter.birth_date, IdCounter.sex, IdCounter.last_sequence)))  # fmt: skip
        counts = store.counts(s)
        assert store.recount(s) == {(d, st): n for d, st, n in counts}
    return {
        "export": "".join(dump_line(r) for r in export_records(db)),
        "keys": keys,
        "counters": counters,
        "counts": counts,
    }


def persons(db: Database) -> int:
    with db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(Person)).scalar_one()


@pytest.mark.parametrize("worker", [False, True], ids=["keys-here", "keys-in-worker"])
def test_parts_give_the_node_one_shot_gives(
    node: NodeContext, second_database: Database, worker: bool
) -> None:
    records = list(synthetic_records(300, node_code=node.code, seed=5))
    one = import_records(second_database, records, node_code=node.code, clock=FixedClock(NOW))
    parts = import_records(
        node.db,
        iter(records),
        node_code=node.code,
        clock=FixedClock(NOW),
        chunk=40,
        parallel_keys_from=1 if worker else 10**9,
    )
    assert parts.persons == one.persons == 300
    assert (parts.households, parts.memberships, parts.journal, parts.search_keys) == (
        one.households,
        one.memberships,
        one.journal,
        one.search_keys,
    )
    mine, theirs = snapshot(node.db), snapshot(second_database)
    assert mine == theirs
    assert len(mine["keys"]) > 300 * 3
    copy = dataclasses.replace(node, db=second_database)
    for r in records[:80]:
        if r["type"] == "person":
            a = queries.get_person(node, actor=ACTOR, id_number=r["id_number"])
            b = queries.get_person(copy, actor=ACTOR, id_number=r["id_number"])
            assert dataclasses.replace(a, person_id=0) == dataclasses.replace(b, person_id=0)


def test_a_bad_record_in_a_late_part_imports_nothing_and_every_bad_line_is_named(node: NodeContext) -> None:
    records = list(synthetic_records(200, node_code=node.code, seed=6))
    first_person = next(i for i, r in enumerate(records) if r["type"] == "person")
    last_person = max(i for i, r in enumerate(records) if r["type"] == "person")
    records[last_person] = {**records[last_person], "birthplace": "999999"}  # unknown division, last part
    # a person of the first part again, in a new household at the end of the file (another part)
    again = dict(records[first_person])
    records += [
        {"type": "household", "number": "X1", "kind": "family", "address": "某路1号", "division": "110105"},
        again,
        {"type": "membership", "household": "X1", "id_number": again["id_number"], "relation": "head",
         "from": "2020-01-01"},
    ]  # fmt: skip
    with pytest.raises(ImportRefused) as refused:
        import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW), chunk=30)
    lines = {e.line: e.reason for e in refused.value.errors}
    assert last_person + 1 in lines
    assert lines[len(records) - 1] == f"Duplicate ID number (first on line {first_person + 1})."
    assert persons(node.db) == 0
    with node.db.session() as s:
        assert store.counts(s) == []


def test_skip_invalid_in_parts_imports_the_rest(node: NodeContext) -> None:
    records = list(synthetic_records(200, node_code=node.code, seed=7))
    bad = max(i for i, r in enumerate(records) if r["type"] == "person")
    records[bad] = {**records[bad], "birthplace": "999999"}
    report = import_records(
        node.db, records, node_code=node.code, clock=FixedClock(NOW), chunk=30, skip_invalid=True
    )
    assert [e.line for e in report.errors if e.line == bad + 1] == [bad + 1]
    assert bad + 1 in report.rejected_lines
    assert report.persons == persons(node.db) == 199


def test_records_of_one_person_split_across_parts_are_named(node: NodeContext) -> None:
    records = list(synthetic_records(120, node_code=node.code, seed=8))
    journal = next(i for i, r in enumerate(records) if r["type"] == "journal")
    moved = records.pop(journal)
    records.append(moved)  # the first person's journal entry at the end: another part
    with pytest.raises(ImportRefused) as refused:
        import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW), chunk=20)
    assert [(e.line, e.message) for e in refused.value.errors] == [(len(records), PERSON_EARLIER)]
    assert persons(node.db) == 0


def test_parts_into_a_node_that_has_records(node: NodeContext) -> None:
    first = list(synthetic_records(60, node_code=node.code, seed=9))
    import_records(node.db, first, node_code=node.code, clock=FixedClock(NOW))
    more = list(synthetic_records(150, node_code=node.code, seed=10))
    report = import_records(node.db, more, node_code=node.code, clock=FixedClock(NOW), chunk=25)
    assert report.persons == 150 and persons(node.db) == 210
    with node.db.session() as s:
        assert store.recount(s) == {(d, st): n for d, st, n in store.counts(s)}
    with pytest.raises(ImportRefused) as refused:
        import_records(node.db, more[-20:], node_code=node.code, clock=FixedClock(NOW), chunk=5)
    assert {e.reason for e in refused.value.errors} >= {"The person is already registered in this node."}
    assert persons(node.db) == 210


def household_journal_file() -> list[dict[str, Any]]:
    records = list(synthetic_records(40, node_code="110000", seed=12))
    first = next(r for r in records if r["type"] == "household")
    heads = [
        r["id_number"] for r in records if r["type"] == "membership" and r["household"] == first["number"]
    ]
    second = next(i for i, r in enumerate(records) if r["type"] == "household" and r is not first)
    # the household's own journal follows its members, in its part of the file
    return [
        *records[:second],
        {"type": "household_journal", "household": first["number"], "seq": 1, "event": "address_corrected",
         "date": "2026-02-02", "reason": "门牌调整", "detail": {"field": "address", "old": "旧址", "new": "新址"}},
        {"type": "household_journal", "household": first["number"], "seq": 2, "event": "head_changed",
         "date": "2026-03-03", "reason": "户主变更",
         "detail": {"old_head_id_number": heads[0], "new_head_id_number": heads[-1], "old_head_relation": None}},
        *records[second:],
    ]  # fmt: skip


@pytest.mark.parametrize("chunk", [None, 7], ids=["one-shot", "parts"])
def test_household_journal_lines_are_loaded_with_persons_by_id(node: NodeContext, chunk: int | None) -> None:
    records = household_journal_file()
    report = import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW), chunk=chunk)
    assert report.household_journal == 2
    line = next(r for r in records if r.get("event") == "head_changed")
    number = line["household"]
    entries = queries.household_journal(node, actor=ACTOR, number=number)
    assert [(e.seq, e.event) for e in entries] == [(1, "address_corrected"), (2, "head_changed")]
    new_head = queries.get_person(node, actor=ACTOR, id_number=line["detail"]["new_head_id_number"])
    assert entries[1].detail is not None and entries[1].detail["new_head_person_id"] == new_head.person_id
    exported = [r for r in export_records(node.db) if r["type"] == "household_journal"]
    assert exported[1]["detail"] == line["detail"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: {**r, "household": "NOPE"}, "A household journal entry of unknown household NOPE."),
        (lambda r: {**r, "seq": 3}, "Journal sequence numbers must run 1, 2, 3, ... (expected 2)."),
        (lambda r: {**r, "detail": {"new_head_id_number": new_id(seq=991)}},
         "The entry names a person not in the file."),
        (lambda r: {**r, "detail": {"new_head_person_id": 1}},
         "Name persons in detail by ID number (a key ending _id_number)."),
        (lambda r: {**r, "event": "renamed"}, "Field event has an unknown value."),
    ],
)  # fmt: skip
def test_a_bad_household_journal_line_is_named(node: NodeContext, change: Any, reason: str) -> None:
    records = household_journal_file()
    at = next(i for i, r in enumerate(records) if r.get("event") == "head_changed")
    records[at] = change(records[at])
    with pytest.raises(ImportRefused) as refused:
        import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW))
    assert [(e.line, e.reason) for e in refused.value.errors] == [(at + 1, reason)]
    assert persons(node.db) == 0
