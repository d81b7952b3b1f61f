"""Name search by hanzi prefix, pinyin and initials through the key table, the same on both backends."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tongban.core.db import Database
from tongban.core.errors import InvalidInput
from tongban.core.node import NodeContext
from tongban.registry import service

from .registry_helpers import ACTOR, household, person


@pytest.fixture
def people(node: NodeContext) -> NodeContext:
    hh = household(node)
    person(node, hh, name="张三")
    for i, name in enumerate(["张三丰", "曾乐", "阿依古丽·买买提", "李四", "𠮷田"]):
        person(node, hh, name=name, relation="other_relative", seq=13 + 2 * i, born=date(1991, 1, 1 + i))
    return node


def names(node: NodeContext, query: str) -> list[str]:
    return sorted(h.name for h in service.search_persons(node, actor=ACTOR, query=query))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("张", ["张三", "张三丰"]),
        ("张三丰", ["张三丰"]),
        ("zhangsan", ["张三", "张三丰"]),
        ("ZhangSanF", ["张三丰"]),
        ("zs", ["张三", "张三丰"]),
        ("zsf", ["张三丰"]),
        ("zengle", ["曾乐"]),
        ("cengyue", ["曾乐"]),
        ("maimaiti", ["阿依古丽·买买提"]),
        ("阿依古丽·", ["阿依古丽·买买提"]),
        ("𠮷", ["𠮷田"]),
        ("wang", []),
        ("%", []),
        ("_", []),
    ],
)
def test_search_finds_by_every_key(people: NodeContext, query: str, expected: list[str]) -> None:
    assert names(people, query) == expected


def test_search_results_mask_nothing_internally_but_carry_status(people: NodeContext) -> None:
    hit = service.search_persons(people, actor=ACTOR, query="李四")[0]
    assert hit.status == "active" and hit.household_number == "H0001"
    assert hit.masked_id_number == hit.id_number[:6] + "*" * 8 + hit.id_number[-4:]


def test_search_limits(people: NodeContext) -> None:
    assert len(service.search_persons(people, actor=ACTOR, query="z", limit=1)) == 1
    with pytest.raises(InvalidInput):
        service.search_persons(people, actor=ACTOR, query="z", limit=1000)


def test_postgresql_answers_the_prefix_from_the_index(pg_url: str) -> None:
    from tongban.registry.names import prefix_upper_bound

    db = Database(pg_url)
    try:
        with db.session() as s:
            s.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(
                s.execute(
                    sa.text(
                        "EXPLAIN SELECT person_id FROM registry_search_keys "
                        "WHERE key >= :lo AND key < :hi ORDER BY key LIMIT 80"
                    ),
                    {"lo": "zs", "hi": prefix_upper_bound("zs")},
                ).scalars()
            )
            like_plan = "\n".join(
                s.execute(
                    sa.text("EXPLAIN SELECT person_id FROM registry_search_keys WHERE key LIKE 'zs%'")
                ).scalars()
            )
    finally:
        db.dispose()
    assert "Index" in plan and "pk_registry_search_keys" in plan
    assert "Index" in like_plan  # the "C" collation lets LIKE 'x%' use the same index
