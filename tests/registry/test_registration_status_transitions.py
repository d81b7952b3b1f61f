"""The transition table of registration statuses, with no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.core.errors import Conflict, InvalidInput
from tongban.registry.domain import (
    TRANSITIONS,
    CancelReason,
    HouseholdKind,
    JournalEvent,
    RegistrationStatus,
    Relation,
    check_membership,
    check_name,
    next_status,
)

S, E = RegistrationStatus, JournalEvent


def test_the_life_of_a_registration() -> None:
    status = next_status(None, E.BORN)
    for event, expected in [
        (E.IN_TRANSIT, S.IN_TRANSIT),
        (E.RESTORED, S.ACTIVE),
        (E.CORRECTED, S.ACTIVE),
        (E.IN_TRANSIT, S.IN_TRANSIT),
        (E.MOVED_OUT, S.MOVED_OUT),
        (E.MOVED_IN, S.ACTIVE),
        (E.DECEASED, S.DECEASED),
    ]:
        status = next_status(status, event)
        assert status is expected


@pytest.mark.parametrize(
    ("before", "event"),
    [
        (S.ACTIVE, E.MOVED_IN),  # two active registrations
        (S.ACTIVE, E.BORN),
        (S.CANCELLED, E.MOVED_OUT),  # moving a cancelled person
        (S.CANCELLED, E.MOVED_IN),
        (S.DECEASED, E.IN_TRANSIT),
        (S.IN_TRANSIT, E.MOVED_IN),
        (S.MOVED_OUT, E.DECEASED),
        (None, E.CORRECTED),
        (None, E.RESTORED),
    ],
)
def test_illegal_transitions_raise_conflict(before: RegistrationStatus | None, event: JournalEvent) -> None:
    with pytest.raises(Conflict):
        next_status(before, event)


@given(st.sampled_from([None, *S]), st.sampled_from(list(E)))
def test_every_pair_is_either_in_the_table_or_refused(
    before: RegistrationStatus | None, event: JournalEvent
) -> None:
    if (before, event) in TRANSITIONS:
        assert next_status(before, event) is TRANSITIONS[(before, event)]
    else:
        with pytest.raises(Conflict):
            next_status(before, event)


@given(st.sampled_from(list(S)))
def test_a_correction_never_changes_the_status(status: RegistrationStatus) -> None:
    assert next_status(status, E.CORRECTED) is status


def test_death_is_its_own_event() -> None:
    assert CancelReason.DEATH.event is E.DECEASED
    assert {r.event for r in CancelReason if r is not CancelReason.DEATH} == {E.CANCELLED}


def test_household_membership_rules() -> None:
    family, collective = HouseholdKind.FAMILY, HouseholdKind.COLLECTIVE
    check_membership(family, Relation.HEAD, has_head=False, has_members=False)
    check_membership(family, Relation.CHILD, has_head=True, has_members=True)
    with pytest.raises(Conflict):
        check_membership(family, Relation.CHILD, has_head=False, has_members=False)
    with pytest.raises(Conflict):
        check_membership(family, Relation.HEAD, has_head=True, has_members=True)
    with pytest.raises(InvalidInput):
        check_membership(family, Relation.COLLECTIVE_MEMBER, has_head=True, has_members=True)
    check_membership(collective, Relation.COLLECTIVE_MEMBER, has_head=False, has_members=False)
    with pytest.raises(InvalidInput):
        check_membership(collective, Relation.SPOUSE, has_head=True, has_members=True)


@pytest.mark.parametrize("name", ["张三", "阿依古丽·买买提", "𠮷田", "欧阳娜娜", "Anna·李"])
def test_names_are_kept_exactly(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "   ", " 张三", "张\x00三", "张" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)
