"""The rules of changing a household's head, with no database."""

from __future__ import annotations

import pytest

from tongban.core.errors import Conflict, InvalidInput
from tongban.registry.domain import HouseholdKind, Relation, check_address, check_head_change

F, C = HouseholdKind.FAMILY, HouseholdKind.COLLECTIVE


def test_a_family_member_becomes_head_and_the_old_head_takes_a_family_relation() -> None:
    check_head_change(
        F, new_head_is_member=True, new_head_is_head=False, has_head=True, old_head_relation=Relation.PARENT
    )


def test_a_collective_head_steps_down_to_collective_member() -> None:
    check_head_change(
        C,
        new_head_is_member=True,
        new_head_is_head=False,
        has_head=True,
        old_head_relation=Relation.COLLECTIVE_MEMBER,
    )


def test_a_household_without_head_appoints_one_without_an_old_relation() -> None:
    check_head_change(
        C, new_head_is_member=True, new_head_is_head=False, has_head=False, old_head_relation=None
    )
    with pytest.raises(InvalidInput):
        check_head_change(
            C,
            new_head_is_member=True,
            new_head_is_head=False,
            has_head=False,
            old_head_relation=Relation.COLLECTIVE_MEMBER,
        )


def test_the_new_head_must_be_an_active_member_not_yet_head() -> None:
    with pytest.raises(Conflict, match="active member"):
        check_head_change(
            F,
            new_head_is_member=False,
            new_head_is_head=False,
            has_head=True,
            old_head_relation=Relation.CHILD,
        )
    with pytest.raises(Conflict, match="already heads"):
        check_head_change(
            F, new_head_is_member=True, new_head_is_head=True, has_head=True, old_head_relation=Relation.CHILD
        )


@pytest.mark.parametrize(
    ("kind", "relation"),
    [
        (F, None),
        (F, Relation.HEAD),
        (F, Relation.COLLECTIVE_MEMBER),
        (C, Relation.HEAD),
        (C, Relation.SPOUSE),
    ],
)
def test_the_old_head_needs_a_relation_that_fits_the_household(
    kind: HouseholdKind, relation: Relation | None
) -> None:
    with pytest.raises(InvalidInput):
        check_head_change(
            kind, new_head_is_member=True, new_head_is_head=False, has_head=True, old_head_relation=relation
        )


@pytest.mark.parametrize("address", ["", "   ", "路" * 201])
def test_an_address_is_1_to_200_characters(address: str) -> None:
    with pytest.raises(InvalidInput):
        check_address(address)
    assert check_address("朝阳区测试路2号") == "朝阳区测试路2号"
