"""Correcting a recorded item needs a reason and keeps the prior value in the journal."""

from __future__ import annotations

from datetime import date

import pytest

from tongban.core.errors import Conflict, InvalidInput
from tongban.core.node import NodeContext
from tongban.registry import service

from .registry_helpers import ACTOR, household, new_id, person


def test_a_name_correction_keeps_the_old_name_and_updates_search(node: NodeContext) -> None:
    p = person(node, household(node), name="张三")
    fixed = service.correct_person(
        node, actor=ACTOR, id_number=p.id_number, changes={"name": "张叁"}, reason="登记错误", case_ref="C-9"
    )
    assert fixed.name == "张叁" and fixed.status == "active" and fixed.household_number == "H0001"
    last = service.journal(node, actor=ACTOR, id_number=p.id_number)[-1]
    assert (last.event, last.reason, last.case_ref) == ("corrected", "登记错误", "C-9")
    assert last.detail == {"field": "name", "old": "张三", "new": "张叁"}
    assert [h.name for h in service.search_persons(node, actor=ACTOR, query="张叁")] == ["张叁"]
    assert service.search_persons(node, actor=ACTOR, query="张三") == []


def test_birth_date_is_corrected_together_with_the_id_number(node: NodeContext) -> None:
    p = person(node, household(node))
    with pytest.raises(InvalidInput):
        service.correct_person(
            node, actor=ACTOR, id_number=p.id_number, changes={"birth_date": "1990-05-18"}, reason="x"
        )
    new_number = new_id(born=date(1990, 5, 18))
    fixed = service.correct_person(
        node,
        actor=ACTOR,
        id_number=p.id_number,
        changes={"birth_date": "1990-05-18", "id_number": new_number},
        reason="出生日期更正",
    )
    assert (fixed.id_number, fixed.birth_date) == (new_number, date(1990, 5, 18))
    details = [e.detail for e in service.journal(node, actor=ACTOR, id_number=new_number)[-2:]]
    assert details == [
        {"field": "id_number", "old": p.id_number, "new": new_number},
        {"field": "birth_date", "old": "1990-05-17", "new": "1990-05-18"},
    ]


def test_corrections_are_refused_without_reason_or_change(node: NodeContext) -> None:
    hh = household(node)
    p = person(node, hh)
    other = person(node, hh, name="李四", relation="spouse", seq=12)
    with pytest.raises(InvalidInput):
        service.correct_person(node, actor=ACTOR, id_number=p.id_number, changes={"name": "王五"}, reason=" ")
    with pytest.raises(InvalidInput):
        service.correct_person(node, actor=ACTOR, id_number=p.id_number, changes={"name": "张三"}, reason="x")
    with pytest.raises(InvalidInput):
        service.correct_person(
            node, actor=ACTOR, id_number=p.id_number, changes={"household": "H2"}, reason="x"
        )
    with pytest.raises(Conflict):  # another person's number
        service.correct_person(
            node,
            actor=ACTOR,
            id_number=p.id_number,
            changes={"id_number": other.id_number, "sex": "female"},
            reason="x",
        )
    assert len(service.journal(node, actor=ACTOR, id_number=p.id_number)) == 1
