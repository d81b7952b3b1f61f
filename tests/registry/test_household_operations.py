"""Correcting a household's address and changing its head: one transaction each, prior values kept."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tongban.audit.tables import AuditRow
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.node import NodeContext
from tongban.registry import queries, service

from .registry_helpers import ACTOR, household, person


def _audit_actions(node: NodeContext) -> list[str]:
    with node.db.session() as s:
        return list(s.scalars(sa.select(AuditRow.action).order_by(AuditRow.seq)))


def test_an_address_correction_keeps_the_prior_address(node: NodeContext) -> None:
    hh = household(node)
    done = service.correct_household_address(
        node, actor=ACTOR, household_number=hh, address="朝阳区测试路2号", reason="门牌整编", case_ref="C-1"
    )
    assert done.address == "朝阳区测试路2号"
    assert queries.get_household(node, actor=ACTOR, number=hh).address == "朝阳区测试路2号"
    [entry] = queries.household_journal(node, actor=ACTOR, number=hh)
    assert (entry.event, entry.reason, entry.case_ref, entry.on_date) == (
        "address_corrected",
        "门牌整编",
        "C-1",
        date(2026, 6, 1),
    )
    assert entry.detail == {"field": "address", "old": "朝阳区测试路1号", "new": "朝阳区测试路2号"}
    assert _audit_actions(node)[-1] == "registry.household.correct"


def test_an_address_correction_needs_a_reason_and_a_change(node: NodeContext) -> None:
    hh = household(node)
    for address, reason in [("朝阳区测试路2号", " "), ("朝阳区测试路1号", "x"), ("", "x")]:
        with pytest.raises(InvalidInput):
            service.correct_household_address(
                node, actor=ACTOR, household_number=hh, address=address, reason=reason
            )
    assert queries.household_journal(node, actor=ACTOR, number=hh) == []
    assert queries.get_household(node, actor=ACTOR, number=hh).address == "朝阳区测试路1号"


def test_a_member_becomes_head_and_the_old_head_gets_a_new_relation(node: NodeContext) -> None:
    hh = household(node)
    father = person(node, hh, name="张三", seq=11)
    son = person(node, hh, name="张小三", relation="child", seq=13, born=date(2000, 1, 1))
    wife = person(node, hh, name="李四", relation="spouse", seq=12)
    done = service.change_household_head(
        node,
        actor=ACTOR,
        household_number=hh,
        new_head_id_number=son.id_number,
        old_head_relation="parent",
        reason="户主变更",
    )
    assert done.head_person_id == son.person_id
    relations = {m.person_id: m.relation for m in done.members}
    # The others keep their relation: the rules ask nothing of them.
    assert relations == {son.person_id: "head", father.person_id: "parent", wife.person_id: "spouse"}
    assert done.members[0].person_id == son.person_id
    for who, old, new in [(father, "head", "parent"), (son, "child", "head")]:
        last = queries.journal(node, actor=ACTOR, id_number=who.id_number)[-1]
        assert (last.event, last.status_after, last.reason) == ("corrected", "active", "户主变更")
        assert last.detail == {"field": "relation", "old": old, "new": new}
        view = queries.get_person(node, actor=ACTOR, id_number=who.id_number)
        assert (view.relation, view.household_number, view.status) == (new, hh, "active")
    [entry] = queries.household_journal(node, actor=ACTOR, number=hh)
    assert entry.event == "head_changed"
    assert entry.detail == {
        "old_head_person_id": father.person_id,
        "new_head_person_id": son.person_id,
        "old_head_relation": "parent",
    }
    assert _audit_actions(node)[-1] == "registry.household.change_head"
    # The old head may now leave without naming a successor.
    service.cancel_registration(node, actor=ACTOR, id_number=father.id_number, reason="death")


def test_a_head_change_to_a_non_member_changes_nothing(node: NodeContext) -> None:
    hh = household(node)
    head = person(node, hh, seq=11)
    child = person(node, hh, name="张小三", relation="child", seq=13, born=date(2000, 1, 1))
    other = household(node, "H0002")
    stranger = person(node, other, name="王五", seq=15)
    service.cancel_registration(node, actor=ACTOR, id_number=child.id_number, reason="emigration")
    for target in (stranger.id_number, child.id_number, "110105199005170999"):
        with pytest.raises(Conflict, match="active member"):
            service.change_household_head(
                node,
                actor=ACTOR,
                household_number=hh,
                new_head_id_number=target,
                old_head_relation="parent",
                reason="x",
            )
    with pytest.raises(Conflict, match="already heads"):
        service.change_household_head(
            node,
            actor=ACTOR,
            household_number=hh,
            new_head_id_number=head.id_number,
            old_head_relation="parent",
            reason="x",
        )
    view = queries.get_household(node, actor=ACTOR, number=hh)
    assert view.head_person_id == head.person_id
    assert queries.household_journal(node, actor=ACTOR, number=hh) == []
    assert queries.journal(node, actor=ACTOR, id_number=head.id_number)[-1].event == "moved_in"


def test_a_bad_old_head_relation_is_refused_before_any_change(node: NodeContext) -> None:
    hh = household(node)
    head = person(node, hh, seq=11)
    child = person(node, hh, name="张小三", relation="child", seq=13, born=date(2000, 1, 1))
    for relation in (None, "head", "collective_member", "boss"):
        with pytest.raises(InvalidInput):
            service.change_household_head(
                node,
                actor=ACTOR,
                household_number=hh,
                new_head_id_number=child.id_number,
                old_head_relation=relation,
                reason="x",
            )
    assert queries.get_household(node, actor=ACTOR, number=hh).head_person_id == head.person_id


def test_a_collective_household_without_head_appoints_one(node: NodeContext) -> None:
    hh = household(node, "J0001", kind="collective")
    member = person(node, hh, relation="collective_member", seq=11)
    done = service.change_household_head(
        node, actor=ACTOR, household_number=hh, new_head_id_number=member.id_number, reason="任命"
    )
    assert done.head_person_id == member.person_id
    assert [m.relation for m in done.members] == ["head"]
