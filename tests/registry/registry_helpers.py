"""Helpers of the registry tests: a household and a person in one call each."""

from __future__ import annotations

from datetime import UTC, date, datetime

from tongban.core.node import NodeContext
from tongban.idnum.domain import make_id_number
from tongban.registry import service

ACTOR = "clerk-test"
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def new_id(area: str = "110105", born: date = date(1990, 5, 17), seq: int = 11) -> str:
    return make_id_number(area, born, seq)


def household(
    node: NodeContext, number: str = "H0001", kind: str = "family", division: str = "110105"
) -> str:
    service.create_household(
        node, actor=ACTOR, number=number, kind=kind, address="朝阳区测试路1号", division_code=division
    )
    return number


def person(
    node: NodeContext,
    hh: str,
    *,
    name: str = "张三",
    relation: str = "head",
    seq: int = 11,
    born: date = date(1990, 5, 17),
    on: date = date(2020, 1, 1),
    event: str = "moved_in",
) -> service.PersonView:
    return service.register_person(
        node,
        actor=ACTOR,
        household_number=hh,
        relation=relation,
        event=event,
        id_number=new_id(born=born, seq=seq),
        name=name,
        sex="male" if seq % 2 else "female",
        birth_date=born,
        ethnicity="01",
        birthplace="110105",
        on_date=on,
    )
