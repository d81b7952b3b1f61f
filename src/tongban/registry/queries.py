"""The registry's queries and the views they return: by ID number, a household, the journal, a date, names.

Reads take the node and the ``actor`` (for access logging by the caller) and open a reading session each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from tongban.access.masking import mask_id
from tongban.core.errors import InvalidInput, NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.registry import store
from tongban.registry.domain import RegistrationStatus
from tongban.registry.tables import Household, JournalEntry, Person, PersonState


@dataclass(frozen=True)
class PersonView:
    person_id: int
    id_number: str
    name: str
    sex: str
    birth_date: date
    ethnicity: str
    birthplace: str
    status: str
    since: date
    household_number: str | None
    relation: str | None
    division_code: str | None  # where the person is registered now (None unless active)
    last_division_code: str | None = None  # the division of their latest registration event here

    @property
    def masked_id_number(self) -> str:
        return mask_id(self.id_number)

    @property
    def jurisdiction(self) -> str | None:
        """The division whose staff answer for this record: current, else the last one here."""
        return self.division_code or self.last_division_code


@dataclass(frozen=True)
class MemberView:
    person_id: int
    id_number: str
    name: str
    sex: str
    birth_date: date
    relation: str
    from_date: date


@dataclass(frozen=True)
class HouseholdView:
    number: str
    kind: str
    address: str
    division_code: str
    head_person_id: int | None
    created_on: date
    members: tuple[MemberView, ...]


@dataclass(frozen=True)
class JournalView:
    seq: int
    event: str
    on_date: date
    status_after: str
    division_code: str | None
    household_number: str | None
    relation: str | None
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class StatusOnDate:
    on_date: date
    status: str | None  # None: not registered in this node on that day
    household_number: str | None
    division_code: str | None


def find_person(s: Session, id_number: str) -> Person:
    person = store.person_by_id_number(s, id_number)
    if person is None:
        raise NotFound(N_("No person with this ID number is registered in this node."))
    return person


def find_household(s: Session, number: str, *, lock: bool = False) -> Household:
    household = store.household_by_number(s, number, lock=lock)
    if household is None:
        raise NotFound(N_("No household {number} in this node."), number=number)
    return household


def person_view(s: Session, person: Person) -> PersonView:
    state = store.state_of(s, person.id)
    assert state is not None
    household = store.household_by_id(s, state.household_id) if state.household_id else None
    membership = store.open_membership(s, person.id) if household else None
    return view_of_written(
        person,
        state,
        household=household,
        relation=membership.relation if membership else None,
        last_division_code=_last_division(s, person.id, state),
    )


def view_of_written(
    person: Person,
    state: PersonState,
    *,
    household: Household | None,
    relation: str | None,
    last_division_code: str | None,
) -> PersonView:
    """A person's view from their record, state, household and relation there (or None): what ``person_view``
    reads, and what a writing use case holds after its change without reading it back."""
    return PersonView(
        person_id=person.id,
        id_number=person.id_number,
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date,
        ethnicity=person.ethnicity,
        birthplace=person.birthplace,
        status=state.status,
        since=state.since,
        household_number=household.number if household is not None else None,
        relation=relation if household is not None else None,
        division_code=state.division_code,
        last_division_code=state.division_code or last_division_code,
    )


def _last_division(s: Session, person_id: int, state: PersonState) -> str | None:
    if state.division_code is not None:
        return state.division_code
    entry = store.last_placed_entry(s, person_id)
    return entry.division_code if entry is not None else None


def get_person(node: NodeContext, /, *, actor: str, id_number: str) -> PersonView:
    with node.db.session() as s:
        return person_view(s, find_person(s, id_number))


def get_person_by_ref(node: NodeContext, /, *, actor: str, person_id: int) -> PersonView:
    with node.db.session() as s:
        person = store.person_by_id(s, person_id)
        if person is None:
            raise NotFound(N_("No such person in this node."))
        return person_view(s, person)


def household_view(s: Session, household: Household) -> HouseholdView:
    members = tuple(
        MemberView(
            person_id=p.id,
            id_number=p.id_number,
            name=p.name,
            sex=p.sex,
            birth_date=p.birth_date,
            relation=m.relation,
            from_date=m.from_date,
        )
        for m, p, _ in store.open_members(s, household.id)
    )
    return HouseholdView(
        number=household.number,
        kind=household.kind,
        address=household.address,
        division_code=household.division_code,
        head_person_id=household.head_person_id,
        created_on=household.created_on,
        members=members,
    )


def get_household(node: NodeContext, /, *, actor: str, number: str) -> HouseholdView:
    with node.db.session() as s:
        return household_view(s, find_household(s, number))


def _journal_view(s: Session, entry: JournalEntry, numbers: dict[int, str]) -> JournalView:
    number = None
    if entry.household_id is not None:
        if entry.household_id not in numbers:
            h = store.household_by_id(s, entry.household_id)
            numbers[entry.household_id] = h.number if h else ""
        number = numbers[entry.household_id]
    return JournalView(
        seq=entry.seq,
        event=entry.event,
        on_date=entry.on_date,
        status_after=entry.status_after,
        division_code=entry.division_code,
        household_number=number,
        relation=entry.relation,
        reason=entry.reason,
        case_ref=entry.case_ref,
        detail=entry.detail,
        actor=entry.actor,
        recorded_at=entry.recorded_at,
    )


def journal(node: NodeContext, /, *, actor: str, id_number: str) -> list[JournalView]:
    with node.db.session() as s:
        person = find_person(s, id_number)
        numbers: dict[int, str] = {}
        return [_journal_view(s, e, numbers) for e in store.journal_of(s, person.id)]


def status_on(node: NodeContext, /, *, actor: str, id_number: str, on_date: date) -> StatusOnDate:
    """Where the person was registered in this node on ``on_date``, from the journal."""
    with node.db.session() as s:
        person = find_person(s, id_number)
        entry = store.entry_on(s, person.id, on_date)
        if entry is None:
            return StatusOnDate(on_date, None, None, None)
        active = entry.status_after == RegistrationStatus.ACTIVE
        household = store.household_by_id(s, entry.household_id) if active and entry.household_id else None
        return StatusOnDate(
            on_date=on_date,
            status=entry.status_after,
            household_number=household.number if household else None,
            division_code=entry.division_code if active else None,
        )


def search_persons(
    node: NodeContext, /, *, actor: str, query: str, limit: int = 20, division_prefix: str = ""
) -> list[PersonView]:
    """Persons whose name starts with ``query`` in hanzi, full pinyin or initials (any reading).

    ``division_prefix`` limits the search to persons registered in divisions starting with it (a
    clerk's county: six digits; a province: two; everyone registered or not: empty).
    """
    if not 1 <= limit <= 100:
        raise InvalidInput(N_("A search returns 1 to 100 results."))
    with node.db.session() as s:
        return [
            PersonView(
                person_id=p.id,
                id_number=p.id_number,
                name=p.name,
                sex=p.sex,
                birth_date=p.birth_date,
                ethnicity=p.ethnicity,
                birthplace=p.birthplace,
                status=st.status,
                since=st.since,
                household_number=number,
                relation=None,
                division_code=st.division_code,
            )
            for p, st, number in store.search(s, query, limit=limit, division_prefix=division_prefix)
        ]


@dataclass(frozen=True)
class HouseholdJournalView:
    seq: int
    event: str
    on_date: date
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None
    actor: str
    recorded_at: datetime


def household_journal(node: NodeContext, /, *, actor: str, number: str) -> list[HouseholdJournalView]:
    """The household's own journal (address corrections, changes of head), oldest first."""
    with node.db.session() as s:
        household = find_household(s, number)
        return [
            HouseholdJournalView(
                seq=e.seq,
                event=e.event,
                on_date=e.on_date,
                reason=e.reason,
                case_ref=e.case_ref,
                detail=e.detail,
                actor=e.actor,
                recorded_at=e.recorded_at,
            )
            for e in store.household_journal_of(s, household.id)
        ]


@dataclass(frozen=True)
class DivisionCounts:
    """A division's registry counts: persons by registration status, and households."""

    division_code: str
    persons: dict[str, int]
    households: int

    @property
    def active(self) -> int:
        return self.persons.get(RegistrationStatus.ACTIVE.value, 0)


@dataclass(frozen=True)
class RegistryCounts:
    """The counts of the divisions in a scope, and their sum."""

    divisions: tuple[DivisionCounts, ...]

    @property
    def persons(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for d in self.divisions:
            for status, n in d.persons.items():
                total[status] = total.get(status, 0) + n
        return total

    @property
    def households(self) -> int:
        return sum(d.households for d in self.divisions)

    @property
    def active(self) -> int:
        return self.persons.get(RegistrationStatus.ACTIVE.value, 0)


def registry_counts(node: NodeContext, /, *, actor: str, division_prefix: str = "") -> RegistryCounts:
    """Persons by status and households, per division starting with ``division_prefix`` (a county clerk:
    their county's six digits; the province: empty). Read from the maintained counts: a few rows, however
    large the node."""
    with node.db.session() as s:
        rows = store.counts(s, division_prefix)
    by_division: dict[str, DivisionCounts] = {}
    for division, status, n in rows:
        entry = by_division.setdefault(division, DivisionCounts(division, {}, 0))
        if status == store.HOUSEHOLDS:
            entry = DivisionCounts(division, entry.persons, n)
            by_division[division] = entry
        else:
            entry.persons[status] = n
    return RegistryCounts(tuple(by_division[d] for d in sorted(by_division)))
