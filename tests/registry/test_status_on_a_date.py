"""The journal answers where a person was registered on a given day."""

from __future__ import annotations

from datetime import date

from tongban.core.node import NodeContext
from tongban.registry import service

from .registry_helpers import ACTOR, household, person


def test_status_on_each_day_follows_the_journal(node: NodeContext) -> None:
    a, b = household(node), household(node, "H0002", division="110108")
    p = person(node, a, on=date(2010, 3, 1))
    service.move_within_node(
        node, actor=ACTOR, id_number=p.id_number, to_household=b, relation="head", reason="购房",
        on_date=date(2015, 7, 1),
    )  # fmt: skip
    service.mark_in_transit(
        node, actor=ACTOR, id_number=p.id_number, case_ref="M-1", on_date=date(2020, 1, 1)
    )
    service.confirm_moved_out(
        node, actor=ACTOR, id_number=p.id_number, case_ref="M-1", on_date=date(2020, 1, 3)
    )

    def on(d: date) -> tuple[str | None, str | None, str | None]:
        s = service.status_on(node, actor=ACTOR, id_number=p.id_number, on_date=d)
        return s.status, s.household_number, s.division_code

    assert on(date(2010, 2, 28)) == (None, None, None)
    assert on(date(2010, 3, 1)) == ("active", a, "110105")
    assert on(date(2015, 6, 30)) == ("active", a, "110105")
    assert on(date(2015, 7, 1)) == ("active", b, "110108")
    assert on(date(2020, 1, 2)) == ("in_transit", None, None)
    assert on(date(2024, 1, 1)) == ("moved_out", None, None)


def test_a_correction_does_not_change_the_status_on_a_date(node: NodeContext) -> None:
    p = person(node, household(node), on=date(2010, 3, 1))
    service.correct_person(
        node,
        actor=ACTOR,
        id_number=p.id_number,
        changes={"name": "张叁"},
        reason="x",
        on_date=date(2012, 1, 1),
    )
    assert (
        service.status_on(node, actor=ACTOR, id_number=p.id_number, on_date=date(2013, 1, 1)).status
        == "active"
    )
