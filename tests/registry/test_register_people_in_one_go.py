"""``register_people``: many move-ins in the caller's transaction, one statement per table, with exactly the
rows, checks and refusals of ``register_person`` one person at a time."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tongban.core.db import Database
from tongban.core.errors import Conflict, NotFound
from tongban.core.node import NodeContext
from tongban.registry import queries, service, store
from tongban.registry.tables import JournalEntry, Membership, Person, PersonState, SearchKey

from .registry_helpers import ACTOR, household, new_id, person


def _entry(hh: str, relation: str, seq: int, name: str = "王五", **kw: Any) -> service.Registration:
    born = kw.pop("born", date(1990, 5, 17))
    on_date = kw.pop("on_date", date(2020, 1, 1))
    return service.Registration(
        household_number=hh,
        relation=relation,
        name=name,
        sex="male" if seq % 2 else "female",
        birth_date=born,
        ethnicity="01",
        birthplace="110105",
        id_number=new_id(born=born, seq=seq),
        on_date=on_date,
        reason="migration",
        case_ref=f"CASE-{seq}",
        **kw,
    )


def _register(node: NodeContext, entries: list[service.Registration]) -> list[queries.PersonView]:
    with node.db.transaction() as s:
        return service.register_people(node, actor=ACTOR, event="moved_in", entries=entries, session=s)


def _one_at_a_time(node: NodeContext, entries: list[service.Registration]) -> list[queries.PersonView]:
    return [
        service.register_person(
            node,
            actor=ACTOR,
            household_number=e.household_number,
            relation=e.relation,
            event="moved_in",
            name=e.name,
            sex=e.sex,
            birth_date=e.birth_date,
            ethnicity=e.ethnicity,
            birthplace=e.birthplace,
            id_number=e.id_number,
            on_date=e.on_date,
            reason=e.reason,
            case_ref=e.case_ref,
        )
        for e in entries
    ]


def _written(db: Database) -> dict[str, Any]:
    """What a registration leaves, by ID number (never by generated ids)."""
    with db.session() as s:
        ids: dict[int, str] = {
            pid: number for pid, number in s.execute(sa.select(Person.id, Person.id_number))
        }
        homes: dict[int, str] = {
            hid: number for hid, number in s.execute(sa.text("SELECT id, number FROM registry_households"))
        }
        found = store.households_by_number(s, list(homes.values()))
        heads = {homes[h.id]: ids.get(h.head_person_id) if h.head_person_id else None for h in found}
        return {
            "persons": sorted(
                (p.id_number, p.name, p.sex, p.birth_date, p.ethnicity, p.birthplace)
                for p in s.scalars(sa.select(Person))
            ),
            "journal": sorted(
                (
                    ids[j.person_id],
                    j.seq,
                    j.event,
                    j.on_date,
                    j.status_after,
                    j.division_code,
                    homes.get(j.household_id or 0),
                    j.relation,
                    j.reason,
                    j.case_ref,
                    j.actor,
                )
                for j in s.scalars(sa.select(JournalEntry))
            ),
            "state": sorted(
                (
                    ids[st.person_id],
                    st.status,
                    homes.get(st.household_id or 0),
                    st.division_code,
                    st.since,
                    st.last_seq,
                )
                for st in s.scalars(sa.select(PersonState))
            ),
            "memberships": sorted(
                (ids[m.person_id], homes[m.household_id], m.relation, m.from_date, m.to_date)
                for m in s.scalars(sa.select(Membership))
            ),
            "keys": sorted(
                (ids[k.person_id], k.key, k.division_code) for k in s.scalars(sa.select(SearchKey))
            ),
            "heads": heads,
            "counts": sorted(store.counts(s)),
        }


def test_a_batch_writes_what_one_at_a_time_writes(node: NodeContext, second_database: Database) -> None:
    other = NodeContext(
        code=node.code, name=node.name, db=second_database, settings=node.settings, clock=node.clock
    )
    entries = [
        _entry("H0001", "head", 11, name="赵一"),
        _entry("H0001", "spouse", 12, name="钱二"),  # joins the head registered just before it
        _entry("H0002", "head", 13, name="孙三"),
        _entry("H0003", "child", 15, name="李四"),  # a household that already has its head
    ]
    for n in (node, other):
        for number in ("H0001", "H0002", "H0003"):
            household(n, number)
        person(n, "H0003", name="周父", seq=21, born=date(1960, 3, 3))
    batch = _register(node, entries)
    single = _one_at_a_time(other, entries)
    assert [(v.id_number, v.status, v.household_number, v.relation, v.since) for v in batch] == [
        (v.id_number, v.status, v.household_number, v.relation, v.since) for v in single
    ]
    assert _written(node.db) == _written(second_database)


def test_a_batch_writes_each_table_once(node: NodeContext) -> None:
    for number in ("H0001", "H0002", "H0003"):
        household(node, number)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip().split("(")[0])

    event.listen(node.db.engine, "before_cursor_execute", seen)
    try:
        _register(node, [_entry(f"H000{i}", "head", 10 + i) for i in (1, 2, 3)])
    finally:
        event.remove(node.db.engine, "before_cursor_execute", seen)
    tables = ["registry_journal", "registry_person_state", "registry_search_keys"]
    if node.db.backend == "postgresql":
        # SQLite does not promise RETURNING's order: there the ORM inserts rows with generated ids one by one.
        tables += ["registry_persons", "registry_memberships"]
    for table in tables:
        assert sum(1 for st in statements if st.startswith(f"INSERT INTO {table}")) == 1, (table, statements)


def test_a_refusal_anywhere_refuses_the_batch(node: NodeContext) -> None:
    household(node, "H0001")
    before = _written(node.db)
    with pytest.raises(NotFound):
        _register(node, [_entry("H0001", "head", 11), _entry("H9999", "head", 13)])
    with pytest.raises(Conflict):  # two heads for one household
        _register(node, [_entry("H0001", "head", 11), _entry("H0001", "head", 13)])
    assert _written(node.db) == before


def test_a_person_known_here_moves_back_in_with_their_record(node: NodeContext) -> None:
    """What a batch cannot take at once (a person who moved out and back) is registered one at a time."""
    household(node, "H0001")
    household(node, "H0002")
    back = person(node, "H0001", seq=11)
    service.mark_in_transit(
        node, actor=ACTOR, id_number=back.id_number, case_ref="CASE-OUT", reason="migration"
    )
    service.confirm_moved_out(node, actor=ACTOR, id_number=back.id_number, case_ref="CASE-OUT")
    views = _register(
        node, [_entry("H0002", "head", 11, on_date=None), _entry("H0001", "head", 13, on_date=None)]
    )
    assert [v.status for v in views] == ["active", "active"]
    with node.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Person)) == 2
    journal = queries.journal(node, actor=ACTOR, id_number=back.id_number)
    assert [e.event for e in journal][-1] == "moved_in"


def test_moving_out_in_a_batch_writes_what_one_at_a_time_writes(
    node: NodeContext, second_database: Database
) -> None:
    """``mark_in_transit_many`` and ``confirm_moved_out_many`` against ``mark_in_transit`` and
    ``confirm_moved_out`` one person at a time, on two databases with the same people."""
    other = NodeContext(
        code=node.code, name=node.name, db=second_database, settings=node.settings, clock=node.clock
    )
    for n in (node, other):
        household(n, "H0001")
        household(n, "H0002")
        person(n, "H0001", seq=11)
        person(n, "H0001", name="李四", relation="spouse", seq=12)
        person(n, "H0002", name="王五", seq=13)
    leaving = [(new_id(seq=12), "CASE-12"), (new_id(seq=13), "CASE-13")]
    with node.db.transaction() as s:
        people = store.persons_by_id_number(s, [i for i, _ in leaving])
        states = store.states_of(s, [p.id for p in people.values()], lock=True)
        left = service.mark_in_transit_many(
            node,
            actor=ACTOR,
            leaving=[service.Leaving(people[i], states[people[i].id], c) for i, c in leaving],
            session=s,
            reason="migration",
        )
        assert [h.number for _, h in left] == ["H0001", "H0002"]
    for i, c in leaving:
        service.mark_in_transit(other, actor=ACTOR, id_number=i, case_ref=c, reason="migration")
    assert _written(node.db) == _written(second_database)
    with node.db.transaction() as s:
        service.confirm_moved_out_many(node, actor=ACTOR, moves=leaving, session=s, reason="settled")
    for i, c in leaving:
        service.confirm_moved_out(other, actor=ACTOR, id_number=i, case_ref=c, reason="settled")
    assert _written(node.db) == _written(second_database)


def test_a_head_leaving_others_behind_refuses_the_batch(node: NodeContext) -> None:
    household(node, "H0001")
    head = person(node, "H0001", seq=11)
    person(node, "H0001", name="李四", relation="spouse", seq=12)
    before = _written(node.db)
    with pytest.raises(Conflict), node.db.transaction() as s:
        found = store.persons_by_id_number(s, [head.id_number])
        state = store.states_of(s, [found[head.id_number].id], lock=True)
        leaving = service.Leaving(found[head.id_number], state[found[head.id_number].id], "CASE-11")
        service.mark_in_transit_many(node, actor=ACTOR, leaving=[leaving], session=s)
    assert _written(node.db) == before
