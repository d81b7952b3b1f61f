"""An import checks the whole file first: one bad record and nothing is imported, each bad line named."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tongban.core.clock import FixedClock
from tongban.core.node import NodeContext
from tongban.registry import queries, service
from tongban.registry.importing import ImportRefused, import_records
from tongban.registry.tables import Household, Person, SearchKey

from .registry_helpers import ACTOR, NOW, new_id


def good_file() -> list[dict[str, Any]]:
    head, wife, kid = (
        new_id(seq=11),
        new_id(seq=12),
        new_id(born=__import__("datetime").date(2015, 3, 3), seq=13),
    )
    return [
        {"type": "household", "number": "H1", "kind": "family", "address": "朝阳区1号", "division": "110105"},
        {"type": "person", "id_number": head, "name": "张三", "sex": "male", "birth_date": "1990-05-17",
         "ethnicity": "01", "birthplace": "110105"},
        {"type": "person", "id_number": wife, "name": "阿依古丽·买买提", "sex": "female",
         "birth_date": "1990-05-17", "ethnicity": "05", "birthplace": "650102"},
        {"type": "person", "id_number": kid, "name": "张𠮷", "sex": "male", "birth_date": "2015-03-03",
         "ethnicity": "01", "birthplace": "110105"},
        {"type": "membership", "household": "H1", "id_number": head, "relation": "head", "from": "2014-01-01"},
        {"type": "membership", "household": "H1", "id_number": wife, "relation": "spouse", "from": "2014-01-01"},
        {"type": "membership", "household": "H1", "id_number": kid, "relation": "child", "from": "2015-03-03"},
        {"type": "journal", "id_number": kid, "seq": 1, "event": "born", "date": "2015-03-03",
         "household": "H1", "division": "110105", "relation": "child"},
    ]  # fmt: skip


def load(node: NodeContext, records: list[dict[str, Any]], **kw: Any) -> Any:
    return import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW), **kw)


def count(node: NodeContext, table: type) -> int:
    with node.db.session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_good_file_is_imported_with_journal_state_and_keys(node: NodeContext) -> None:
    report = load(node, good_file())
    assert (report.households, report.persons, report.memberships, report.journal) == (1, 3, 3, 3)
    hh = queries.get_household(node, actor=ACTOR, number="H1")
    assert [m.name for m in hh.members] == ["张三", "阿依古丽·买买提", "张𠮷"]
    head = queries.get_person(node, actor=ACTOR, id_number=new_id(seq=11))
    assert (head.status, head.relation, head.division_code) == ("active", "head", "110105")
    assert hh.head_person_id == head.person_id
    assert [e.event for e in queries.journal(node, actor=ACTOR, id_number=new_id(seq=11))] == ["moved_in"]
    assert [h.name for h in queries.search_persons(node, actor=ACTOR, query="maimaiti")] == [
        "阿依古丽·买买提"
    ]
    assert count(node, SearchKey) > 3


def bad(records: list[dict[str, Any]], index: int, **change: Any) -> list[dict[str, Any]]:
    out = [dict(r) for r in records]
    out[index].update(change)
    return out


CASES = [
    ("id check", lambda r: bad(r, 1, id_number=r[1]["id_number"][:-1] + "0"), 2, "The check character is"),
    ("unknown division", lambda r: bad(r, 0, division="119999"), 1, "Unknown division code 119999."),
    ("other province", lambda r: bad(r, 0, division="310101"), 1, "not a place of registration"),
    ("unknown birthplace", lambda r: bad(r, 2, birthplace="000000"), 3, "Unknown division code"),
    ("two households", lambda r: [*r, {"type": "household", "number": "H2", "kind": "family", "address": "x",
      "division": "110105"}, {"type": "membership", "household": "H2", "id_number": r[2]["id_number"],
      "relation": "head", "from": "2016-01-01"}], 10, "A person in two households"),
    ("no head", lambda r: bad(r, 4, relation="child"), 1, "A household without a head."),
    ("duplicate person", lambda r: [*r, dict(r[1])], 9, "Duplicate ID number (first on line 2)."),
    ("duplicate household", lambda r: [*r, dict(r[0])], 9, "Duplicate household number (first on line 1)."),
    ("sex mismatch", lambda r: bad(r, 1, sex="female"), 2, "The sex does not match"),
    ("bad name", lambda r: bad(r, 1, name=""), 2, "A name is required"),
    ("unknown type", lambda r: [*r, {"type": "car"}], 9, "Field type must be"),
    ("extra field", lambda r: bad(r, 1, phone="123"), 2, "Unexpected fields: phone."),
    ("illegal journal", lambda r: [*r, {"type": "journal", "id_number": r[3]["id_number"], "seq": 2,
      "event": "born", "date": "2016-01-01", "household": "H1"}], 9, "Illegal transition: active -> born."),
    ("journal vs membership", lambda r: [*r, {"type": "journal", "id_number": r[3]["id_number"], "seq": 2,
      "event": "deceased", "date": "2016-01-01", "household": "H1"}], 4, "The journal ends deceased"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "make", "line", "reason"), CASES, ids=[c[0] for c in CASES])
def test_one_bad_record_imports_nothing_and_is_named(
    node: NodeContext, name: str, make: Any, line: int, reason: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        load(node, make(good_file()))
    assert (line, True) in [(e.line, reason in e.reason) for e in refused.value.errors], refused.value.errors
    assert count(node, Person) == 0 and count(node, Household) == 0


def test_skip_invalid_imports_the_rest_and_takes_dependents_along(node: NodeContext) -> None:
    second = [
        {"type": "household", "number": "H2", "kind": "family", "address": "x", "division": "110108"},
        {"type": "person", "id_number": new_id(seq=21), "name": "李四", "sex": "male", "birth_date": "1990-05-17",
         "ethnicity": "01", "birthplace": "110108"},
        {"type": "membership", "household": "H2", "id_number": new_id(seq=21), "relation": "head",
         "from": "2020-01-01"},
    ]  # fmt: skip
    records = bad(good_file(), 1, ethnicity="99") + second  # the head of H1 is bad: H1 and its members go
    report = load(node, records, skip_invalid=True)
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[2] == "Unknown ethnicity code 99." and reasons[1] == "A household without a head."
    assert reasons[5] == "The person's record is rejected."
    assert reasons[6] == reasons[7] == "Household H1 is rejected."
    assert report.rejected_lines == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (report.households, report.persons) == (1, 1)
    assert queries.get_household(node, actor=ACTOR, number="H2").members[0].name == "李四"


def test_a_second_import_refuses_what_the_node_has(node: NodeContext) -> None:
    load(node, good_file())
    with pytest.raises(ImportRefused) as refused:
        load(node, good_file())
    reasons = {e.reason for e in refused.value.errors}
    assert {
        "The household number is already in this node.",
        "The person is already registered in this node.",
    } <= reasons


def test_imported_numbers_are_never_allocated_again(node: NodeContext) -> None:
    load(node, good_file())
    from datetime import date

    issued = service.allocate_id_number(
        node, actor=ACTOR, area="110105", birth_date=date(1990, 5, 17), sex="male"
    )
    assert issued == new_id(seq=13)  # 11 was imported; the counter was raised past it


def test_reasons_are_given_in_the_operators_language(node: NodeContext) -> None:
    with pytest.raises(ImportRefused) as refused:
        load(node, bad(good_file(), 0, division="119999"))
    (error,) = refused.value.errors
    assert error.text("en") == "Unknown division code 119999."
    assert "119999" in error.text("zh_CN") and error.text("zh_CN") != error.text("en")


def test_a_first_import_puts_back_every_index_and_foreign_key(node: NodeContext) -> None:
    """A load into an empty node builds its secondary indexes (and foreign keys) at the end: all are back."""

    def schema() -> dict[str, tuple[list[str], list[str]]]:
        with node.db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                t: (
                    sorted(str(ix["name"]) for ix in inspector.get_indexes(t)),
                    sorted(str(fk["name"]) for fk in inspector.get_foreign_keys(t)),
                )
                for t in inspector.get_table_names()
                if t.startswith("registry_")
            }

    before = schema()
    load(node, good_file())
    assert schema() == before
    assert any(before[t][0] for t in before) and any(before[t][1] for t in before)
