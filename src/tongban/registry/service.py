"""The registry's use cases: one transaction each, refused with a clear error and no change when illegal.

Every function takes the node context first and keyword-only arguments after it, among them the ``actor``
(who acts, for the audit record). Writes journal the change and update the current state in the same
transaction (``store.append_journal``), and record one audit entry through ``_audit``. Reads are in
``queries``; the bulk import is in ``importing``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.core import batching
from tongban.core.errors import Conflict, InvalidInput, NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.divisions.domain import get_catalog
from tongban.idnum.domain import IdNumber, Sex, make_id_number, parse_id
from tongban.registry import store
from tongban.registry.domain import (
    CORRECTABLE,
    CancelReason,
    HouseholdEvent,
    HouseholdKind,
    JournalEvent,
    RegistrationStatus,
    Relation,
    check_address,
    check_birthplace,
    check_division,
    check_ethnicity,
    check_head_change,
    check_household_number,
    check_membership,
    check_name,
    check_not_before,
    next_status,
)
from tongban.registry.hooks import change_of, notify
from tongban.registry.queries import (
    HouseholdView,
    PersonView,
    find_household,
    find_person,
    household_view,
    person_view,
    view_of_written,
)
from tongban.registry.tables import Household, Membership, Person, PersonState

CHINA = timezone(timedelta(hours=8), "CST")
MAX_SEQUENCE = 999


# ----------------------------------------------------------------------------------------- helpers
def _report(
    s: Session,
    node: NodeContext,
    id_number: str,
    state: PersonState,
    at: datetime,
    case_ref: str | None = None,
) -> None:
    """Tell the node's registration listener (the locator report, when the node has an exchange) of the
    person's new status, in the change's transaction (a person in transit with the owning case)."""
    notify(s, node, [change_of(id_number, RegistrationStatus(state.status), at, case_ref=case_ref)])


def _audit(
    s: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    change: Mapping[str, Any] | None,
    at: datetime,
) -> None:
    """The registry's single audit call site: every write calls it once, in the write's transaction.

    ``object_id`` is the person's or household's internal id, never an ID number.
    """
    record_audit(
        s, actor=actor, action=action, object_type=object_type, object_id=object_id, change=change, at=at
    )


@contextlib.contextmanager
def _writing(node: NodeContext, session: Session | None = None) -> Iterator[Session]:
    """One use case's transaction. A unique key lost to a concurrent writer (the same ID number or household
    number registered at the same moment) is a ``Conflict`` to retry, not an internal error.

    With ``session`` (a caller's open transaction, e.g. a migration's step that must commit the registry
    change with its case event and its outgoing message) the change joins that transaction instead, and the
    caller commits or rolls back everything together.
    """
    if session is not None:
        yield session
        return
    try:
        with node.db.transaction() as s:
            yield s
    except IntegrityError:
        raise Conflict(
            N_("The same record was changed at the same moment by someone else: try again.")
        ) from None


def today(node: NodeContext) -> date:
    """The node's current date (China Standard Time: registration dates are local dates)."""
    return node.clock.now().astimezone(CHINA).date()


def _check_date(node: NodeContext, on_date: date | None) -> date:
    now = today(node)
    if on_date is None:
        return now
    if on_date > now:
        raise InvalidInput(N_("The date {date} is in the future."), date=on_date.isoformat())
    return on_date


def check_id_number(value: str, *, on: date) -> IdNumber:
    """A valid ID number: check character, birth date not in the future, an area code that ever existed."""
    return parse_id(value, today=on, area_exists=get_catalog().ever_existed)


def _check_consistent(idn: IdNumber, *, sex: str, birth_date: date) -> None:
    if idn.birth_date != birth_date:
        raise InvalidInput(N_("The birth date does not match the ID number."))
    if idn.sex.value != sex:
        raise InvalidInput(N_("The sex does not match the ID number."))


def _sex(value: str) -> Sex:
    try:
        return Sex(value)
    except ValueError:
        raise InvalidInput(N_("Unknown sex {value}."), value=value) from None


def _locked_state(s: Session, person: Person) -> PersonState | None:
    return store.state_of(s, person.id, lock=True)


def _leave_household(
    s: Session, *, person: Person, on_date: date, new_head_id_number: str | None
) -> tuple[Household, Membership]:
    """Close the person's open membership; a head leaving others behind hands over to ``new_head``."""
    membership = store.open_membership(s, person.id)
    if membership is None:  # pragma: no cover - an active person always has one (unique index, journal)
        raise Conflict(N_("This person has no current household."))
    household = store.household_by_id(s, membership.household_id)
    assert household is not None
    store.lock_households(s, [household.id])
    membership.to_date = on_date
    if household.head_person_id == person.id:
        if new_head_id_number is None:
            # A collective household may go without a head; a family one only when nobody stays.
            if (
                household.kind != HouseholdKind.COLLECTIVE
                and store.count_open_members(s, household.id, excluding=person.id) > 0
            ):
                raise Conflict(
                    N_("This person heads household {number}: name the member who becomes its head."),
                    number=household.number,
                )
            household.head_person_id = None
            return household, membership
        others = [(m, p) for m, p, _ in store.open_members(s, household.id) if p.id != person.id]
        if not others:
            household.head_person_id = None
        else:
            match = [(m, p) for m, p in others if p.id_number == new_head_id_number]
            if not match:
                raise InvalidInput(N_("The new head must be a current member of the household."))
            new_membership, new_head = match[0]
            new_membership.relation = Relation.HEAD.value
            household.head_person_id = new_head.id
    elif new_head_id_number is not None:
        raise InvalidInput(N_("Only a leaving head hands the household over to a new head."))
    return household, membership


def _join_household(
    s: Session, *, person: Person, household: Household, relation: Relation, on_date: date
) -> None:
    kind = HouseholdKind(household.kind)
    has_members = store.count_open_members(s, household.id) > 0
    check_membership(kind, relation, has_head=household.head_person_id is not None, has_members=has_members)
    s.add(
        Membership(
            person_id=person.id,
            household_id=household.id,
            relation=relation.value,
            from_date=on_date,
        )
    )
    if relation is Relation.HEAD:
        household.head_person_id = person.id
    s.flush()


def _relation(value: str) -> Relation:
    try:
        return Relation(value)
    except ValueError:
        raise InvalidInput(N_("Unknown relation {value}."), value=value) from None


# -------------------------------------------------------------------------------------- operations
def create_household(
    node: NodeContext,
    /,
    *,
    actor: str,
    number: str,
    kind: HouseholdKind | str,
    address: str,
    division_code: str,
    on_date: date | None = None,
) -> HouseholdView:
    """Open a household (立户) in a division of this node; its head joins it by registration or a move."""
    check_household_number(number)
    try:
        kind = HouseholdKind(kind)
    except ValueError:
        raise InvalidInput(N_("Unknown household kind {value}."), value=str(kind)) from None
    if not address.strip() or len(address) > 200:
        raise InvalidInput(N_("An address of 1 to 200 characters is required."))
    check_division(division_code, node.code, in_use=True)
    on_date = _check_date(node, on_date)
    with _writing(node) as s:
        if store.household_by_number(s, number) is not None:
            raise Conflict(N_("Household {number} already exists."), number=number)
        household = Household(
            number=number,
            kind=kind.value,
            address=address,
            division_code=division_code,
            created_on=on_date,
        )
        s.add(household)
        s.flush()
        store.add_count(s, division_code, store.HOUSEHOLDS, 1)
        _audit(
            s,
            actor=actor,
            action="registry.household.create",
            object_type="household",
            object_id=str(household.id),
            change={"number": number, "kind": kind.value, "division_code": division_code},
            at=node.clock.now(),
        )
        return household_view(s, household)


def register_person(
    node: NodeContext,
    /,
    *,
    actor: str,
    household_number: str,
    relation: Relation | str,
    event: JournalEvent | str,
    name: str,
    sex: Sex | str,
    birth_date: date,
    ethnicity: str,
    birthplace: str,
    id_number: str | None = None,
    on_date: date | None = None,
    reason: str | None = None,
    case_ref: str | None = None,
    session: Session | None = None,
) -> PersonView:
    """Register a person into a household of this node, at birth or on moving in.

    A newborn without an ID number gets a new one for the household's area. A person already known here
    (moved out earlier) moves back in with their record; anyone actively registered, in transit or
    cancelled is refused by the transition table.
    """
    event = JournalEvent(event)
    if event not in (JournalEvent.BORN, JournalEvent.MOVED_IN):
        raise InvalidInput(N_("A registration is a birth or a move-in."))
    rel, sex, on_date = _checked(
        node, relation, name, sex, birth_date, ethnicity, birthplace, id_number, on_date
    )
    if id_number is None and event is not JournalEvent.BORN:
        raise InvalidInput(N_("A person moving in must have an ID number."))
    now = node.clock.now()
    with _writing(node, session) as s:
        household = find_household(s, household_number, lock=True)
        if id_number is None:
            id_number = _allocate(s, node=node, area=household.division_code, birth_date=birth_date, sex=sex)
        person = store.person_by_id_number(s, id_number)
        detail: dict[str, Any] | None = None
        new_here = person is None
        if person is None:
            person = Person(
                id_number=id_number,
                name=name,
                sex=sex.value,
                birth_date=birth_date,
                ethnicity=ethnicity,
                birthplace=birthplace,
            )
            s.add(person)
            s.flush()
            state = None
            store.add_search_keys(s, person.id, name, household.division_code)
        else:
            state = _locked_state(s, person)
            check_not_before(on_date, store.last_journal_date(s, person.id))
            if person.sex != sex.value or person.birth_date != birth_date:
                raise InvalidInput(N_("The sex and birth date differ from this person's record."))
            # A person moving back may bring a changed name or ethnicity: keep the prior values.
            prior = {
                f: getattr(person, f)
                for f, v in (("name", name), ("ethnicity", ethnicity))
                if getattr(person, f) != v
            }
            detail = {"prior": prior} if prior else None
        after = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=event,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=household.id,
            division_code=household.division_code,
            relation=rel.value,
            reason=reason,
            case_ref=case_ref,
            detail=detail,
            keys_placed=new_here,  # a new person's keys were written with this division just above
        )
        if detail:
            person.name, person.ethnicity = name, ethnicity
            store.replace_search_keys(s, person.id, name)
        _join_household(s, person=person, household=household, relation=rel, on_date=on_date)
        _report(s, node, person.id_number, after, now)
        _audit(
            s,
            actor=actor,
            action=f"registry.person.{event.value}",
            object_type="person",
            object_id=str(person.id),
            change={"household": household.number, "relation": rel.value, "case_ref": case_ref},
            at=now,
        )
        return view_of_written(
            person, after, household=household, relation=rel.value, last_division_code=household.division_code
        )


@dataclass(frozen=True)
class Registration:
    """One person of ``register_people``: the arguments of ``register_person`` but the actor and event."""

    household_number: str
    relation: Relation | str
    name: str
    sex: Sex | str
    birth_date: date
    ethnicity: str
    birthplace: str
    id_number: str
    on_date: date | None = None
    reason: str | None = None
    case_ref: str | None = None


def register_people(
    node: NodeContext,
    /,
    *,
    actor: str,
    event: JournalEvent | str,
    entries: Sequence[Registration],
    session: Session,
) -> list[PersonView]:
    """``register_person`` for many people with ID numbers, in the caller's transaction (a batch of move-ins),
    with one statement per table for all of them rather than one per person.

    The checks and writes are ``register_person``'s, person by person in order (two joining one household
    see each other). What a batch cannot take at once (a person already known here, who moves back in with
    their record; an ID number twice in the batch) is registered one at a time by ``register_person``. A
    refusal refuses the batch: run it one at a time to find which (the migration batches do so)."""
    event = JournalEvent(event)
    if event not in (JournalEvent.BORN, JournalEvent.MOVED_IN):
        raise InvalidInput(N_("A registration is a birth or a move-in."))
    checked = [
        (
            e,
            *_checked(
                node,
                e.relation,
                e.name,
                e.sex,
                e.birth_date,
                e.ethnicity,
                e.birthplace,
                e.id_number,
                e.on_date,
            ),
        )
        for e in entries
    ]
    if not checked:
        return []
    s = session
    numbers = sorted({e.household_number for e in entries})
    households = {h.number: h for h in store.households_by_number(s, numbers, lock=True)}
    for number in numbers:
        if number not in households:
            raise NotFound(N_("No household {number} in this node."), number=number)
    ids = [e.id_number for e in entries]
    if len(set(ids)) != len(ids) or store.known_id_numbers(s, ids):
        return [
            register_person(
                node,
                session=s,
                actor=actor,
                household_number=e.household_number,
                relation=rel,
                event=event,
                name=e.name,
                sex=sex,
                birth_date=e.birth_date,
                ethnicity=e.ethnicity,
                birthplace=e.birthplace,
                id_number=e.id_number,
                on_date=on_date,
                reason=e.reason,
                case_ref=e.case_ref,
            )
            for e, rel, sex, on_date in checked
        ]
    now = node.clock.now()
    members = store.count_open_members_of(s, [h.id for h in households.values()])
    heads = {h.id: h.head_person_id is not None for h in households.values()}
    for e, rel, _, _ in checked:  # each joins after the ones before it in the batch
        household = households[e.household_number]
        check_membership(
            HouseholdKind(household.kind),
            rel,
            has_head=heads[household.id],
            has_members=members.get(household.id, 0) > 0,
        )
        members[household.id] = members.get(household.id, 0) + 1
        heads[household.id] = heads[household.id] or rel is Relation.HEAD
    people = [
        Person(
            id_number=e.id_number,
            name=e.name,
            sex=sex.value,
            birth_date=e.birth_date,
            ethnicity=e.ethnicity,
            birthplace=e.birthplace,
        )
        for e, _, sex, _ in checked
    ]
    s.add_all(people)
    s.flush()  # their ids: one insert for all
    store.add_search_keys_of(
        s,
        [
            (p.id, p.name, households[e.household_number].division_code)
            for p, (e, *_) in zip(people, checked, strict=True)
        ],
    )
    views: list[PersonView] = []
    changes = []
    for person, (e, rel, _, on_date) in zip(people, checked, strict=True):
        household = households[e.household_number]
        after = store.append_journal(
            s,
            person_id=person.id,
            state=None,
            event=event,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=household.id,
            division_code=household.division_code,
            relation=rel.value,
            reason=e.reason,
            case_ref=e.case_ref,
            keys_placed=True,
        )
        s.add(
            Membership(person_id=person.id, household_id=household.id, relation=rel.value, from_date=on_date)
        )
        if rel is Relation.HEAD:
            household.head_person_id = person.id
        changes.append(change_of(person.id_number, RegistrationStatus(after.status), now))
        _audit(
            s,
            actor=actor,
            action=f"registry.person.{event.value}",
            object_type="person",
            object_id=str(person.id),
            change={"household": household.number, "relation": rel.value, "case_ref": e.case_ref},
            at=now,
        )
        views.append(
            view_of_written(
                person,
                after,
                household=household,
                relation=rel.value,
                last_division_code=household.division_code,
            )
        )
    notify(s, node, changes)
    if batching.active(s) is None:
        s.flush()  # in a batch pass, with the pass's other rows when it ends
    return views


def _checked(
    node: NodeContext,
    relation: Relation | str,
    name: str,
    sex: Sex | str,
    birth_date: date,
    ethnicity: str,
    birthplace: str,
    id_number: str | None,
    on_date: date | None,
) -> tuple[Relation, Sex, date]:
    """A registration's checks (``register_person``, ``register_people``): the relation, sex and date. An ID
    number, when given, must agree with the sex and birth date."""
    rel = _relation(str(relation))
    check_name(name)
    checked_sex = _sex(str(sex))
    check_ethnicity(ethnicity)
    check_birthplace(birthplace)
    day = _check_date(node, on_date)
    if birth_date > day:
        raise InvalidInput(N_("The birth date is after the registration date."))
    if id_number is not None:
        _check_consistent(
            check_id_number(id_number, on=today(node)), sex=checked_sex.value, birth_date=birth_date
        )
    return rel, checked_sex, day


def move_within_node(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    to_household: str,
    relation: Relation | str,
    reason: str,
    on_date: date | None = None,
    case_ref: str | None = None,
    new_head_id_number: str | None = None,
    session: Session | None = None,
) -> PersonView:
    """Move an actively registered person to another household of this node (moved out, then in)."""
    rel = _relation(str(relation))
    on_date = _check_date(node, on_date)
    _require_reason(reason)
    now = node.clock.now()
    with _writing(node, session) as s:
        person = find_person(s, id_number)
        state = _locked_state(s, person)
        if state is None or state.status != RegistrationStatus.ACTIVE:
            raise Conflict(
                N_("A person whose registration is {status} cannot be recorded as {event}."),
                status=state.status if state else "unregistered",
                event=JournalEvent.MOVED_OUT.value,
            )
        check_not_before(on_date, store.last_journal_date(s, person.id))
        target = find_household(s, to_household)
        if state.household_id == target.id:
            raise Conflict(N_("The person is already in household {number}."), number=to_household)
        assert state.household_id is not None
        store.lock_households(s, [state.household_id, target.id])
        old, _ = _leave_household(s, person=person, on_date=on_date, new_head_id_number=new_head_id_number)
        state = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=JournalEvent.MOVED_OUT,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=old.id,
            division_code=old.division_code,
            reason=reason,
            case_ref=case_ref,
        )
        after = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=JournalEvent.MOVED_IN,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=target.id,
            division_code=target.division_code,
            relation=rel.value,
            reason=reason,
            case_ref=case_ref,
        )
        s.refresh(target)
        _join_household(s, person=person, household=target, relation=rel, on_date=on_date)
        _report(s, node, person.id_number, after, now)
        _audit(
            s,
            actor=actor,
            action="registry.person.move",
            object_type="person",
            object_id=str(person.id),
            change={"from": old.number, "to": target.number, "relation": rel.value},
            at=now,
        )
        return person_view(s, person)


def _require_reason(reason: str | None) -> str:
    if reason is None or not reason.strip():
        raise InvalidInput(N_("A reason is required."))
    if len(reason) > 200:
        raise InvalidInput(N_("A reason has at most 200 characters."))
    return reason


def _leave(
    node: NodeContext,
    *,
    actor: str,
    id_number: str,
    event: JournalEvent,
    action: str,
    on_date: date | None,
    reason: str | None,
    case_ref: str | None,
    new_head_id_number: str | None,
    detail: dict[str, Any] | None = None,
    session: Session | None = None,
    person: Person | None = None,
) -> PersonView:
    """An active person leaves their household: in transit, cancelled or deceased. ``person``: the record,
    when the caller has read it in ``session`` already."""
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    with _writing(node, session) as s:
        if person is None or session is None:
            person = find_person(s, id_number)
        elif person.id_number != id_number:
            raise ValueError("the person given is not the one named")
        state = _locked_state(s, person)
        before = RegistrationStatus(state.status) if state else None
        next_status(before, event)  # refuse before touching anything
        assert state is not None
        check_not_before(on_date, store.last_journal_date(s, person.id))
        household, membership = _leave_household(
            s, person=person, on_date=on_date, new_head_id_number=new_head_id_number
        )
        after = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=event,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=household.id,
            division_code=household.division_code,
            relation=membership.relation,
            reason=reason,
            case_ref=case_ref,
            detail=detail,
        )
        _report(s, node, person.id_number, after, now, case_ref)
        _audit(
            s,
            actor=actor,
            action=action,
            object_type="person",
            object_id=str(person.id),
            change={"event": event.value, "case_ref": case_ref, **(detail or {})},
            at=now,
        )
        # Left: no household; their jurisdiction is that of the household they left (the entry just written).
        return view_of_written(
            person, after, household=None, relation=None, last_division_code=household.division_code
        )


def cancel_registration(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    reason: CancelReason | str,
    note: str | None = None,
    on_date: date | None = None,
    case_ref: str | None = None,
    new_head_id_number: str | None = None,
) -> PersonView:
    """Cancel an active registration: death (deceased) or emigration and the other reasons (cancelled)."""
    try:
        why = CancelReason(reason)
    except ValueError:
        raise InvalidInput(N_("Unknown cancellation reason {value}."), value=str(reason)) from None
    if why is CancelReason.OTHER:
        _require_reason(note)
    return _leave(
        node,
        actor=actor,
        id_number=id_number,
        event=why.event,
        action="registry.person.cancel",
        on_date=on_date,
        reason=note,
        case_ref=case_ref,
        new_head_id_number=new_head_id_number,
        detail={"cancel_reason": why.value},
    )


def mark_in_transit(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    case_ref: str,
    on_date: date | None = None,
    reason: str | None = None,
    new_head_id_number: str | None = None,
    session: Session | None = None,
    person: Person | None = None,
) -> PersonView:
    """The origin's move-out in a migration: the person is in transit, owned by case ``case_ref``
    (``person``: their record, read by the caller in ``session``)."""
    _require_case_ref(case_ref)
    return _leave(
        node,
        actor=actor,
        id_number=id_number,
        event=JournalEvent.IN_TRANSIT,
        action="registry.person.in_transit",
        on_date=on_date,
        reason=reason,
        case_ref=case_ref,
        new_head_id_number=new_head_id_number,
        session=session,
        person=person,
    )


@dataclass(frozen=True)
class Leaving:
    """One person of ``mark_in_transit_many``: their record and state, read and locked by the caller in the
    batch's transaction, and the case that owns the move."""

    person: Person
    state: PersonState
    case_ref: str


def mark_in_transit_many(
    node: NodeContext,
    /,
    *,
    actor: str,
    leaving: Sequence[Leaving],
    session: Session,
    reason: str | None = None,
) -> list[tuple[PersonView, Household]]:
    """``mark_in_transit`` of many persons (no new head named) in the caller's transaction, with one
    statement per table for all of them: the checks and writes of ``mark_in_transit``, person by person in
    order (a head leaving others behind, even ones leaving later in the batch, is refused), and for each
    the household they left. A refusal refuses the batch: run it one at a time to find which."""
    if not leaving:
        return []
    s = session
    on_date = _check_date(node, None)
    now = node.clock.now()
    ids = [x.person.id for x in leaving]
    if len(set(ids)) != len(ids):
        raise ValueError("the same person twice in one batch")
    for x in leaving:
        _require_case_ref(x.case_ref)
        next_status(RegistrationStatus(x.state.status), JournalEvent.IN_TRANSIT)  # refuse before writing
    last_dates = store.last_journal_dates(s, ids)
    memberships = store.open_memberships_of(s, ids)
    if len(memberships) != len(ids):  # pragma: no cover - an active person always has one
        raise Conflict(N_("This person has no current household."))
    households = store.households_by_id(s, [m.household_id for m in memberships.values()], lock=True)
    members = store.count_open_members_of(s, list(households))
    views: list[tuple[PersonView, Household]] = []
    changes = []
    placed: dict[str, list[int]] = {}
    for x in leaving:
        person = x.person
        check_not_before(on_date, last_dates.get(person.id))
        membership = memberships[person.id]
        household = households[membership.household_id]
        members[household.id] = members.get(household.id, 1) - 1  # the others still in it
        if household.head_person_id == person.id:
            if household.kind != HouseholdKind.COLLECTIVE and members[household.id] > 0:
                raise Conflict(
                    N_("This person heads household {number}: name the member who becomes its head."),
                    number=household.number,
                )
            household.head_person_id = None
        membership.to_date = on_date
        after = store.append_journal(
            s,
            person_id=person.id,
            state=x.state,
            event=JournalEvent.IN_TRANSIT,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=household.id,
            division_code=household.division_code,
            relation=membership.relation,
            reason=reason,
            case_ref=x.case_ref,
            keys_placed=True,  # placed below, one statement per division
        )
        placed.setdefault(household.division_code, []).append(person.id)
        changes.append(
            change_of(person.id_number, RegistrationStatus(after.status), now, case_ref=x.case_ref)
        )
        _audit(
            s,
            actor=actor,
            action="registry.person.in_transit",
            object_type="person",
            object_id=str(person.id),
            change={"event": JournalEvent.IN_TRANSIT.value, "case_ref": x.case_ref},
            at=now,
        )
        view = view_of_written(
            person, after, household=None, relation=None, last_division_code=household.division_code
        )
        views.append((view, household))
    for division, person_ids in placed.items():
        store.place_search_keys(s, person_ids, division)
    notify(s, node, changes)
    return views


def _require_case_ref(case_ref: str | None) -> str:
    if not case_ref or not case_ref.strip() or len(case_ref) > 64:
        raise InvalidInput(N_("A case reference is required."))
    return case_ref


def restore_registration(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    case_ref: str,
    on_date: date | None = None,
    reason: str | None = None,
    household_number: str | None = None,
    relation: Relation | str | None = None,
    session: Session | None = None,
) -> PersonView:
    """Restore a person in transit (the destination abandoned), or cancelled, into a household.

    By default the person returns to the household and relation they left.
    """
    _require_case_ref(case_ref)
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    with _writing(node, session) as s:
        person = find_person(s, id_number)
        state = _locked_state(s, person)
        next_status(RegistrationStatus(state.status) if state else None, JournalEvent.RESTORED)
        assert state is not None
        check_not_before(on_date, store.last_journal_date(s, person.id))
        left = store.last_placed_entry(s, person.id)
        if household_number is None:
            if left is None or left.household_id is None:  # pragma: no cover - imported without history
                raise InvalidInput(N_("Name the household to restore the person into."))
            household = store.household_by_id(s, left.household_id)
            assert household is not None
        else:
            household = find_household(s, household_number)
        store.lock_households(s, [household.id])
        s.refresh(household)
        if relation is None:
            relation = left.relation if left is not None and left.relation else Relation.OTHER_RELATIVE
        rel = _relation(str(relation))
        after = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=JournalEvent.RESTORED,
            on_date=on_date,
            actor=actor,
            at=now,
            household_id=household.id,
            division_code=household.division_code,
            relation=rel.value,
            reason=reason,
            case_ref=case_ref,
        )
        _join_household(s, person=person, household=household, relation=rel, on_date=on_date)
        _report(s, node, person.id_number, after, now)
        _audit(
            s,
            actor=actor,
            action="registry.person.restore",
            object_type="person",
            object_id=str(person.id),
            change={"household": household.number, "case_ref": case_ref},
            at=now,
        )
        return view_of_written(
            person, after, household=household, relation=rel.value, last_division_code=household.division_code
        )


def confirm_moved_out(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    case_ref: str,
    on_date: date | None = None,
    reason: str | None = None,
    session: Session | None = None,
) -> PersonView:
    """The destination registered the move-in: the person in transit is now registered elsewhere."""
    with _writing(node, session) as s:
        confirm_moved_out_many(
            node, actor=actor, moves=[(id_number, case_ref)], session=s, reason=reason, on_date=on_date
        )
        person = find_person(s, id_number)
        state = store.state_of(s, person.id)
        assert state is not None
        # Moved out: no household here; their jurisdiction is that of the entry they left from.
        left = store.last_placed_entry(s, person.id)
        return view_of_written(
            person,
            state,
            household=None,
            relation=None,
            last_division_code=left.division_code if left else None,
        )


def confirm_moved_out_many(
    node: NodeContext,
    /,
    *,
    actor: str,
    moves: Sequence[tuple[str, str]],
    session: Session,
    reason: str | None = None,
    on_date: date | None = None,
) -> None:
    """The destination registered the move-ins: many persons in transit (ID number, owning case) are now
    registered elsewhere, in the caller's transaction, with one statement per table for all of them; a
    refusal refuses the batch (run it one at a time to find which)."""
    if not moves:
        return
    s = session
    for _, case_ref in moves:
        _require_case_ref(case_ref)
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    persons = store.persons_by_id_number(s, [id_number for id_number, _ in moves])
    for id_number, _ in moves:
        if id_number not in persons:
            find_person(s, id_number)  # raises its NotFound
    ids = [persons[id_number].id for id_number, _ in moves]
    if len(set(ids)) != len(ids):
        raise ValueError("the same person twice in one batch")
    states = store.states_of(s, ids, lock=True)
    last_dates = store.last_journal_dates(s, ids)
    divisions = store.last_divisions(s, ids)
    changes = []
    for id_number, case_ref in moves:
        person = persons[id_number]
        state = states.get(person.id)
        check_not_before(on_date, last_dates.get(person.id))
        if state is None or state.status != RegistrationStatus.IN_TRANSIT:
            raise Conflict(
                N_("A person whose registration is {status} cannot be recorded as {event}."),
                status=state.status if state else "unregistered",
                event=JournalEvent.MOVED_OUT.value,
            )
        after = store.append_journal(
            s,
            person_id=person.id,
            state=state,
            event=JournalEvent.MOVED_OUT,
            on_date=on_date,
            actor=actor,
            at=now,
            reason=reason,
            case_ref=case_ref,
            last_division_known=divisions.get(person.id),
        )
        changes.append(change_of(person.id_number, RegistrationStatus(after.status), now))
        _audit(
            s,
            actor=actor,
            action="registry.person.moved_out",
            object_type="person",
            object_id=str(person.id),
            change={"case_ref": case_ref},
            at=now,
        )
    notify(s, node, changes)


def _coerce(field: str, value: object) -> str | date:
    if field == "birth_date":
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(N_("Invalid date {value}."), value=str(value)) from None
    if not isinstance(value, str):
        raise InvalidInput(N_("Invalid value for {field}."), field=field)
    return value


def correct_person(
    node: NodeContext,
    /,
    *,
    actor: str,
    id_number: str,
    changes: Mapping[str, object],
    reason: str,
    on_date: date | None = None,
    case_ref: str | None = None,
) -> PersonView:
    """Correct recorded items (name, sex, birth date, ethnicity, birthplace, ID number) with a reason.

    Each changed item gets a ``corrected`` journal entry keeping the prior value. The corrected record must
    still agree with its ID number: correcting the birth date or sex goes with a corrected ID number.
    """
    _require_reason(reason)
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise InvalidInput(N_("These items cannot be corrected: {fields}."), fields=", ".join(unknown))
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    with _writing(node) as s:
        person = find_person(s, id_number)
        state = _locked_state(s, person)
        assert state is not None
        check_not_before(on_date, store.last_journal_date(s, person.id))
        new = {f: _coerce(f, v) for f, v in changes.items()}
        old = {f: getattr(person, f) for f in new}
        changed = {f: v for f, v in new.items() if v != old[f]}
        if not changed:
            raise InvalidInput(N_("Nothing to correct: the values are those on record."))
        facts = {f: getattr(person, f) for f in CORRECTABLE} | changed
        check_name(str(facts["name"]))
        check_ethnicity(str(facts["ethnicity"]))
        check_birthplace(str(facts["birthplace"]))
        sex = _sex(str(facts["sex"]))
        idn = check_id_number(str(facts["id_number"]), on=today(node))
        birth = facts["birth_date"]
        assert isinstance(birth, date)
        _check_consistent(idn, sex=sex.value, birth_date=birth)
        if "id_number" in changed and store.id_number_exists(s, idn.number):
            raise Conflict(N_("Another person already has this ID number."))
        for f in CORRECTABLE:
            if f not in changed:
                continue
            before, after = old[f], changed[f]
            state = store.append_journal(
                s,
                person_id=person.id,
                state=state,
                event=JournalEvent.CORRECTED,
                on_date=on_date,
                actor=actor,
                at=now,
                reason=reason,
                case_ref=case_ref,
                detail={"field": f, "old": _jsonable(before), "new": _jsonable(after)},
                keep_place=True,
            )
            setattr(person, f, after)
        if "name" in changed:
            store.replace_search_keys(s, person.id, person.name)
        _audit(
            s,
            actor=actor,
            action="registry.person.correct",
            object_type="person",
            object_id=str(person.id),
            change={"fields": sorted(changed)},
            at=now,
        )
        s.flush()
        return person_view(s, person)


def correct_household_address(
    node: NodeContext,
    /,
    *,
    actor: str,
    household_number: str,
    address: str,
    reason: str,
    on_date: date | None = None,
    case_ref: str | None = None,
) -> HouseholdView:
    """Correct a household's address with a reason; the household's journal keeps the prior address."""
    check_address(address)
    _require_reason(reason)
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    with _writing(node) as s:
        household = find_household(s, household_number, lock=True)
        if household.address == address:
            raise InvalidInput(N_("Nothing to correct: the values are those on record."))
        store.append_household_journal(
            s,
            household_id=household.id,
            event=HouseholdEvent.ADDRESS_CORRECTED.value,
            on_date=on_date,
            actor=actor,
            at=now,
            reason=reason,
            case_ref=case_ref,
            detail={"field": "address", "old": household.address, "new": address},
        )
        household.address = address
        _audit(
            s,
            actor=actor,
            action="registry.household.correct",
            object_type="household",
            object_id=str(household.id),
            change={"fields": ["address"], "case_ref": case_ref},
            at=now,
        )
        s.flush()
        return household_view(s, household)


def change_household_head(
    node: NodeContext,
    /,
    *,
    actor: str,
    household_number: str,
    new_head_id_number: str,
    reason: str,
    old_head_relation: Relation | str | None = None,
    on_date: date | None = None,
    case_ref: str | None = None,
) -> HouseholdView:
    """Make an active member the head of their household (变更户主).

    The old head stays a member with ``old_head_relation``; the new head's relation becomes ``head``; the
    other members keep theirs. Each of the two gets a ``corrected`` entry in their journal (field
    ``relation``, prior value kept) and the household's journal records the change of head.
    """
    _require_reason(reason)
    old_rel = _relation(str(old_head_relation)) if old_head_relation is not None else None
    on_date = _check_date(node, on_date)
    now = node.clock.now()
    with _writing(node) as s:
        household = find_household(s, household_number, lock=True)
        members = store.open_members(s, household.id)
        new = next(
            (
                (m, p)
                for m, p, st in members
                if p.id_number == new_head_id_number and st.status == RegistrationStatus.ACTIVE
            ),
            None,
        )
        old = next(((m, p) for m, p, _ in members if p.id == household.head_person_id), None)
        check_head_change(
            HouseholdKind(household.kind),
            new_head_is_member=new is not None,
            new_head_is_head=new is not None and new[1].id == household.head_person_id,
            has_head=old is not None,
            old_head_relation=old_rel,
        )
        assert new is not None
        changes = [(new[0], new[1], Relation.HEAD)]
        if old is not None:
            assert old_rel is not None
            changes.insert(0, (old[0], old[1], old_rel))
        for membership, person, rel in changes:
            state = _locked_state(s, person)
            check_not_before(on_date, store.last_journal_date(s, person.id))
            store.append_journal(
                s,
                person_id=person.id,
                state=state,
                event=JournalEvent.CORRECTED,
                on_date=on_date,
                actor=actor,
                at=now,
                reason=reason,
                case_ref=case_ref,
                detail={"field": "relation", "old": membership.relation, "new": rel.value},
                keep_place=True,
            )
            membership.relation = rel.value
        store.append_household_journal(
            s,
            household_id=household.id,
            event=HouseholdEvent.HEAD_CHANGED.value,
            on_date=on_date,
            actor=actor,
            at=now,
            reason=reason,
            case_ref=case_ref,
            detail={
                "old_head_person_id": old[1].id if old is not None else None,
                "new_head_person_id": new[1].id,
                "old_head_relation": old_rel.value if old_rel is not None else None,
            },
        )
        household.head_person_id = new[1].id
        _audit(
            s,
            actor=actor,
            action="registry.household.change_head",
            object_type="household",
            object_id=str(household.id),
            change={
                "new_head_person_id": new[1].id,
                "old_head_relation": old_rel.value if old_rel else None,
                "case_ref": case_ref,
            },
            at=now,
        )
        s.flush()
        return household_view(s, household)


def _jsonable(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def allocate_id_number(
    node: NodeContext, /, *, actor: str, area: str, birth_date: date, sex: Sex | str
) -> str:
    """Issue a new ID number for ``area`` (in use, in this node), ``birth_date`` and ``sex``."""
    sex = _sex(str(sex))
    with _writing(node) as s:
        number = _allocate(s, node=node, area=area, birth_date=birth_date, sex=sex)
        _audit(
            s,
            actor=actor,
            action="registry.idnumber.allocate",
            object_type="id_counter",
            object_id=f"{area}:{birth_date.isoformat()}:{sex.value}",
            change=None,
            at=node.clock.now(),
        )
        return number


def _allocate(s: Session, *, node: NodeContext, area: str, birth_date: date, sex: Sex) -> str:
    check_division(area, node.code, in_use=True)
    if birth_date > today(node):
        raise InvalidInput(N_("The birth date is in the future."))
    first = 1 if sex is Sex.MALE else 2
    while True:
        seq = store.advance_counter(s, area=area, birth_date=birth_date, sex_first=first)
        if seq > MAX_SEQUENCE:
            raise Conflict(
                N_("No male ID numbers are left for area {area} and birth date {date}.")
                if sex is Sex.MALE
                else N_("No female ID numbers are left for area {area} and birth date {date}."),
                area=area,
                date=birth_date.isoformat(),
            )
        number = make_id_number(area, birth_date, seq)
        # Numbers loaded by an import before the counter existed are skipped, never issued twice.
        if not store.id_number_exists(s, number):
            return number
