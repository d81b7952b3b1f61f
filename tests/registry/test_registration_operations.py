"""Registering, moving and cancelling persons: one transaction each, refused with no change when illegal."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from tongban.core.errors import Conflict, InvalidInput, NotFound
from tongban.core.node import NodeContext
from tongban.registry import service
from tongban.registry.tables import JournalEntry, Membership, PersonState

from .registry_helpers import ACTOR, household, new_id, person


def _counts(node: NodeContext) -> tuple[int, int, int]:
    with node.db.session() as s:
        return (
            s.execute(sa.select(sa.func.count()).select_from(JournalEntry)).scalar_one(),
            s.execute(sa.select(sa.func.count()).select_from(Membership)).scalar_one(),
            s.execute(sa.select(sa.func.count()).select_from(PersonState)).scalar_one(),
        )


def test_a_registered_person_is_active_in_their_household(node: NodeContext) -> None:
    hh = household(node)
    head = person(node, hh)
    wife = person(node, hh, name="李四", relation="spouse", seq=12)
    assert head.status == "active" and head.household_number == hh and head.relation == "head"
    view = service.get_household(node, actor=ACTOR, number=hh)
    assert [m.name for m in view.members] == ["张三", "李四"]
    assert view.head_person_id == head.person_id
    assert service.get_person(node, actor=ACTOR, id_number=wife.id_number).division_code == "110105"
    assert [e.event for e in service.journal(node, actor=ACTOR, id_number=head.id_number)] == ["moved_in"]


def test_names_are_stored_exactly_as_given(node: NodeContext) -> None:
    hh = household(node)
    names = ["阿依古丽·买买提", "𠮷田花子", "欧阳娜娜"]
    person(node, hh, name=names[0])
    for i, name in enumerate(names[1:]):
        person(node, hh, name=name, relation="child", seq=13 + 2 * i)
    got = [m.name for m in service.get_household(node, actor=ACTOR, number=hh).members]
    assert got == names


def test_a_person_cannot_be_registered_twice(node: NodeContext) -> None:
    hh = household(node)
    other = household(node, "H0002")
    person(node, hh)
    before = _counts(node)
    with pytest.raises(Conflict):
        person(node, other)
    assert _counts(node) == before


def test_a_family_household_starts_with_its_head(node: NodeContext) -> None:
    hh = household(node)
    with pytest.raises(Conflict):
        person(node, hh, relation="child")
    person(node, hh)
    with pytest.raises(Conflict):
        person(node, hh, relation="head", seq=13)


def test_invalid_id_numbers_and_unknown_divisions_are_refused(node: NodeContext) -> None:
    hh = household(node)
    bad = new_id()[:-1] + ("0" if new_id()[-1] != "0" else "1")
    with pytest.raises(InvalidInput):
        service.register_person(
            node, actor=ACTOR, household_number=hh, relation="head", event="moved_in", id_number=bad,
            name="张三", sex="male", birth_date=date(1990, 5, 17), ethnicity="01", birthplace="110105",
        )  # fmt: skip
    with pytest.raises(InvalidInput):
        service.create_household(
            node, actor=ACTOR, number="H9", kind="family", address="x", division_code="119999"
        )
    with pytest.raises(InvalidInput):  # in the catalog but in another province
        service.create_household(
            node, actor=ACTOR, number="H9", kind="family", address="x", division_code="310101"
        )
    assert _counts(node) == (0, 0, 0)


def test_a_newborn_gets_a_new_id_number_for_the_household_area(node: NodeContext) -> None:
    hh = household(node)
    person(node, hh)
    baby = service.register_person(
        node, actor=ACTOR, household_number=hh, relation="child", event="born", name="张小宝",
        sex="female", birth_date=date(2026, 5, 20), ethnicity="01", birthplace="110105",
    )  # fmt: skip
    assert baby.id_number.startswith("11010520260520") and int(baby.id_number[14:17]) % 2 == 0


def test_moving_within_the_node_journals_out_and_in(node: NodeContext) -> None:
    a, b = household(node), household(node, "H0002")
    person(node, a)
    kid = person(node, a, name="张小", relation="child", seq=13, born=date(2010, 1, 1))
    moved = service.move_within_node(
        node, actor=ACTOR, id_number=kid.id_number, to_household=b, relation="head",
        reason="分户", on_date=date(2024, 3, 1),
    )  # fmt: skip
    assert moved.household_number == b and moved.relation == "head"
    events = [e.event for e in service.journal(node, actor=ACTOR, id_number=kid.id_number)]
    assert events == ["moved_in", "moved_out", "moved_in"]
    assert [m.name for m in service.get_household(node, actor=ACTOR, number=a).members] == ["张三"]


def test_a_leaving_head_names_the_new_head(node: NodeContext) -> None:
    a, b = household(node), household(node, "H0002")
    head = person(node, a)
    wife = person(node, a, name="李四", relation="spouse", seq=12)
    before = _counts(node)
    with pytest.raises(Conflict):
        service.move_within_node(
            node, actor=ACTOR, id_number=head.id_number, to_household=b, relation="head", reason="分户"
        )
    assert _counts(node) == before
    service.cancel_registration(
        node, actor=ACTOR, id_number=head.id_number, reason="death", new_head_id_number=wife.id_number
    )
    view = service.get_household(node, actor=ACTOR, number=a)
    assert view.head_person_id == wife.person_id and view.members[0].relation == "head"


def test_a_cancelled_person_cannot_move(node: NodeContext) -> None:
    a, b = household(node), household(node, "H0002")
    p = person(node, a)
    gone = service.cancel_registration(
        node, actor=ACTOR, id_number=p.id_number, reason="emigration", on_date=date(2025, 1, 1)
    )
    assert gone.status == "cancelled" and gone.household_number is None
    before = _counts(node)
    with pytest.raises(Conflict):
        service.move_within_node(
            node, actor=ACTOR, id_number=p.id_number, to_household=b, relation="head", reason="x"
        )
    with pytest.raises(Conflict):
        service.cancel_registration(node, actor=ACTOR, id_number=p.id_number, reason="death")
    assert _counts(node) == before


def test_death_is_recorded_as_deceased_with_its_reason(node: NodeContext) -> None:
    p = person(node, household(node))
    dead = service.cancel_registration(
        node,
        actor=ACTOR,
        id_number=p.id_number,
        reason="death",
        note="医院死亡证明",
        on_date=date(2025, 2, 2),
    )
    assert dead.status == "deceased"
    last = service.journal(node, actor=ACTOR, id_number=p.id_number)[-1]
    assert (last.event, last.reason, last.detail) == ("deceased", "医院死亡证明", {"cancel_reason": "death"})


def test_in_transit_then_restored_returns_to_the_household(node: NodeContext) -> None:
    a = household(node)
    p = person(node, a)
    t = service.mark_in_transit(
        node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-1", on_date=date(2026, 1, 5)
    )
    assert t.status == "in_transit" and t.household_number is None
    with pytest.raises(Conflict):
        service.mark_in_transit(node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-2")
    r = service.restore_registration(
        node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-1", on_date=date(2026, 1, 9)
    )
    assert (r.status, r.household_number, r.relation) == ("active", a, "head")
    service.mark_in_transit(
        node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-3", on_date=date(2026, 2, 1)
    )
    out = service.confirm_moved_out(
        node, actor=ACTOR, id_number=p.id_number, case_ref="MIG-3", on_date=date(2026, 2, 2)
    )
    assert out.status == "moved_out"
    back = person(node, household(node, "H0002"), on=date(2026, 3, 1))
    assert back.status == "active" and back.person_id == p.person_id


def test_dates_never_go_backwards_or_into_the_future(node: NodeContext) -> None:
    p = person(node, household(node), on=date(2024, 5, 1))
    with pytest.raises(Conflict):
        service.cancel_registration(
            node, actor=ACTOR, id_number=p.id_number, reason="death", on_date=date(2024, 4, 1)
        )
    with pytest.raises(InvalidInput):
        service.cancel_registration(
            node, actor=ACTOR, id_number=p.id_number, reason="death", on_date=date(2027, 1, 1)
        )


def test_unknown_people_and_households_are_not_found(node: NodeContext) -> None:
    with pytest.raises(NotFound):
        service.get_person(node, actor=ACTOR, id_number=new_id())
    with pytest.raises(NotFound):
        service.get_household(node, actor=ACTOR, number="NOPE")
