"""The registry's REST API (``/api/v1/registry``): thin routes over ``service``.

Every route declares its rule with ``requires``; once a record is loaded, ``ensure_in_scope`` checks it
lies in the user's jurisdiction (outside answers like a missing record), and each read of a person's
record is logged with ``record_view``. URLs carry only opaque person ids: an ID number is looked up with a
POST body (``/persons/lookup``), so it never appears in a URL or an access log. Lists mask ID numbers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tongban.access.masking import present_id
from tongban.access.web import CurrentUser, ensure_in_scope, record_view, scope_filter
from tongban.core.errors import Conflict, Forbidden, NotFound
from tongban.core.i18n import N_
from tongban.core.routing import RowId, requires
from tongban.registry import queries, service
from tongban.registry.domain import CancelReason, HouseholdKind, JournalEvent, Relation
from tongban.registry.queries import HouseholdView, PersonView
from tongban.web.app import CurrentNode

router = APIRouter(prefix="/registry", tags=["registry"])

PERSON_READ = "registry.person.read"
PERSON_UPDATE = "registry.person.update"
PERSON_SEARCH = "registry.person.search"
HOUSEHOLD_READ = "registry.household.read"
HOUSEHOLD_UPDATE = "registry.household.update"
COUNTS_READ = "registry.counts.read"

ID_EXAMPLE = ["11010519491231002X"]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------ schemas
class HouseholdCreate(_Schema):
    number: str = Field(min_length=1, max_length=20)
    kind: HouseholdKind
    address: str = Field(min_length=1, max_length=200)
    division_code: str = Field(pattern=r"^\d{6}$")
    on_date: date | None = None


class MemberRead(BaseModel):
    person_id: int
    id_number: str  # masked
    name: str
    sex: str
    birth_date: date
    relation: str
    from_date: date


class HouseholdRead(BaseModel):
    number: str
    kind: str
    address: str
    division_code: str
    head_person_id: int | None
    created_on: date
    members: list[MemberRead]


class PersonCreate(_Schema):
    """A registration into a household: a birth (the ID number may be left out) or a move-in."""

    household_number: str = Field(min_length=1, max_length=20)
    relation: Relation
    event: JournalEvent = JournalEvent.BORN
    name: str = Field(min_length=1, max_length=64)
    sex: str = Field(pattern="^(male|female)$")
    birth_date: date
    ethnicity: str = Field(pattern=r"^\d{2}$")
    birthplace: str = Field(pattern=r"^\d{6}$")
    id_number: str | None = Field(default=None, min_length=18, max_length=18, examples=ID_EXAMPLE)
    on_date: date | None = None
    reason: str | None = Field(default=None, max_length=200)
    case_ref: str | None = Field(default=None, max_length=64)


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
    division_code: str | None


class PersonSummary(BaseModel):
    """A search hit: the ID number masked."""

    person_id: int
    id_number: str
    name: str
    sex: str
    birth_date: date
    status: str
    household_number: str | None
    division_code: str | None


class PersonLookup(_Schema):
    id_number: str = Field(min_length=18, max_length=18, examples=ID_EXAMPLE)
    case_ref: str | None = Field(default=None, max_length=64)


class MoveCreate(_Schema):
    to_household: str = Field(min_length=1, max_length=20)
    relation: Relation
    reason: str = Field(min_length=1, max_length=200)
    on_date: date | None = None
    case_ref: str | None = Field(default=None, max_length=64)
    new_head_id_number: str | None = Field(default=None, min_length=18, max_length=18)


class CancellationCreate(_Schema):
    reason: CancelReason
    note: str | None = Field(default=None, max_length=200)
    on_date: date | None = None
    case_ref: str | None = Field(default=None, max_length=64)
    new_head_id_number: str | None = Field(default=None, min_length=18, max_length=18)


class CorrectionCreate(_Schema):
    changes: dict[str, str] = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=200)
    on_date: date | None = None
    case_ref: str | None = Field(default=None, max_length=64)


class TransitCreate(_Schema):
    case_ref: str = Field(min_length=1, max_length=64)
    on_date: date | None = None
    reason: str | None = Field(default=None, max_length=200)
    new_head_id_number: str | None = Field(default=None, min_length=18, max_length=18)


class RestorationCreate(_Schema):
    case_ref: str = Field(min_length=1, max_length=64)
    on_date: date | None = None
    reason: str | None = Field(default=None, max_length=200)
    household_number: str | None = Field(default=None, max_length=20)
    relation: Relation | None = None


class MovedOutCreate(_Schema):
    case_ref: str = Field(min_length=1, max_length=64)
    on_date: date | None = None
    reason: str | None = Field(default=None, max_length=200)


class JournalEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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


class StatusRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    on_date: date
    status: str | None
    household_number: str | None
    division_code: str | None


class AddressCorrectionCreate(_Schema):
    address: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=200)
    on_date: date | None = None
    case_ref: str | None = Field(default=None, max_length=64)


class HeadChangeCreate(_Schema):
    """A current, active member becomes the head; the old head (if any) takes ``old_head_relation``."""

    new_head_person_id: int = Field(ge=1)
    old_head_relation: Relation | None = None
    reason: str = Field(min_length=1, max_length=200)
    on_date: date | None = None
    case_ref: str | None = Field(default=None, max_length=64)


class HouseholdJournalEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    event: str
    on_date: date
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None
    actor: str
    recorded_at: datetime


class DivisionCountsRead(BaseModel):
    division_code: str
    persons: dict[str, int]
    households: int


class CountsRead(BaseModel):
    """Persons by registration status and households, in the user's jurisdiction, per division and in all."""

    persons: dict[str, int]
    households: int
    divisions: list[DivisionCountsRead]


class IdNumberCreate(_Schema):
    area: str = Field(pattern=r"^\d{6}$")
    birth_date: date
    sex: str = Field(pattern="^(male|female)$")


class IdNumberRead(BaseModel):
    id_number: str


# ------------------------------------------------------------------------------------------ helpers
def _person_read(p: PersonView) -> PersonRead:
    return PersonRead.model_validate(p)


def _household_read(h: HouseholdView, user: Any) -> HouseholdRead:
    return HouseholdRead(
        number=h.number,
        kind=h.kind,
        address=h.address,
        division_code=h.division_code,
        head_person_id=h.head_person_id,
        created_on=h.created_on,
        members=[
            MemberRead(
                person_id=m.person_id,
                id_number=present_id(user, m.id_number, person_division=h.division_code),
                name=m.name,
                sex=m.sex,
                birth_date=m.birth_date,
                relation=m.relation,
                from_date=m.from_date,
            )
            for m in h.members
        ],
    )


def _load_person(request: Request, node: Any, user: Any, person_id: int) -> PersonView:
    """The person, if within the user's jurisdiction for the route's action (else 404, like a missing one)."""
    try:
        person = queries.get_person_by_ref(node, actor=user.id, person_id=person_id)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    ensure_in_scope(request, person.jurisdiction, person_ref=str(person.person_id))
    return person


def _viewed(request: Request, person: PersonView, case_ref: str | None) -> None:
    record_view(
        request,
        person_ref=str(person.person_id),
        person_division=person.jurisdiction,
        reason="case" if case_ref else "search",
        reason_ref=case_ref or uuid.uuid4().hex,
    )


def _household_in_scope(request: Request, node: Any, user: Any, number: str) -> HouseholdView:
    try:
        household = queries.get_household(node, actor=user.id, number=number)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    ensure_in_scope(request, household.division_code)
    return household


# ------------------------------------------------------------------------------------------- routes
@router.post("/households", status_code=201, dependencies=[requires(HOUSEHOLD_UPDATE)])
def create_household(
    body: HouseholdCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> HouseholdRead:
    ensure_in_scope(request, body.division_code)
    created = service.create_household(
        node,
        actor=user.id,
        number=body.number,
        kind=body.kind,
        address=body.address,
        division_code=body.division_code,
        on_date=body.on_date,
    )
    return _household_read(created, user)


@router.get("/households/{number}", dependencies=[requires(HOUSEHOLD_READ)])
def read_household(number: str, request: Request, node: CurrentNode, user: CurrentUser) -> HouseholdRead:
    return _household_read(_household_in_scope(request, node, user, number), user)


@router.get("/households/{number}/journal", dependencies=[requires(HOUSEHOLD_READ)])
def read_household_journal(
    number: str, request: Request, node: CurrentNode, user: CurrentUser
) -> list[HouseholdJournalEntryRead]:
    _household_in_scope(request, node, user, number)
    entries = queries.household_journal(node, actor=user.id, number=number)
    return [HouseholdJournalEntryRead.model_validate(e) for e in entries]


@router.post("/households/{number}/address-corrections", dependencies=[requires(HOUSEHOLD_UPDATE)])
def correct_household_address(
    number: str, body: AddressCorrectionCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> HouseholdRead:
    _household_in_scope(request, node, user, number)
    done = service.correct_household_address(
        node,
        actor=user.id,
        household_number=number,
        address=body.address,
        reason=body.reason,
        on_date=body.on_date,
        case_ref=body.case_ref,
    )
    return _household_read(done, user)


@router.post("/households/{number}/head", dependencies=[requires(HOUSEHOLD_UPDATE)])
def change_household_head(
    number: str, body: HeadChangeCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> HouseholdRead:
    """Make a member the head. The new head is named by person id: a member of the household, or refused."""
    _household_in_scope(request, node, user, number)
    try:
        new_head = queries.get_person_by_ref(node, actor=user.id, person_id=body.new_head_person_id)
    except NotFound:
        raise Conflict(N_("The new head must be an active member of the household.")) from None
    done = service.change_household_head(
        node,
        actor=user.id,
        household_number=number,
        new_head_id_number=new_head.id_number,
        old_head_relation=body.old_head_relation,
        reason=body.reason,
        on_date=body.on_date,
        case_ref=body.case_ref,
    )
    return _household_read(done, user)


@router.get("/counts", dependencies=[requires(COUNTS_READ)])
def read_counts(request: Request, node: CurrentNode, user: CurrentUser) -> CountsRead:
    """Persons by status and households in the user's jurisdiction (a county clerk: their county)."""
    _, prefix = scope_filter(request)
    if prefix is None:  # pragma: no cover - every role granted the action has a territorial scope
        raise Forbidden(N_("You may not do this."))
    counts = queries.registry_counts(node, actor=user.id, division_prefix=prefix)
    return CountsRead(
        persons=counts.persons,
        households=counts.households,
        divisions=[
            DivisionCountsRead(division_code=d.division_code, persons=d.persons, households=d.households)
            for d in counts.divisions
        ],
    )


@router.post("/persons", status_code=201, dependencies=[requires(PERSON_UPDATE)])
def register_person(body: PersonCreate, request: Request, node: CurrentNode, user: CurrentUser) -> PersonRead:
    _household_in_scope(request, node, user, body.household_number)
    person = service.register_person(
        node,
        actor=user.id,
        household_number=body.household_number,
        relation=body.relation,
        event=body.event,
        name=body.name,
        sex=body.sex,
        birth_date=body.birth_date,
        ethnicity=body.ethnicity,
        birthplace=body.birthplace,
        id_number=body.id_number,
        on_date=body.on_date,
        reason=body.reason,
        case_ref=body.case_ref,
    )
    return _person_read(person)


@router.post("/persons/lookup", dependencies=[requires(PERSON_READ)])
def lookup_person(body: PersonLookup, request: Request, node: CurrentNode, user: CurrentUser) -> PersonRead:
    """A person by ID number (sent in the body so that it stays out of URLs and logs)."""
    try:
        person = queries.get_person(node, actor=user.id, id_number=body.id_number)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    ensure_in_scope(request, person.jurisdiction, person_ref=str(person.person_id))
    _viewed(request, person, body.case_ref)
    return _person_read(person)


@router.get("/persons/{person_id}", dependencies=[requires(PERSON_READ)])
def read_person(
    person_id: RowId, request: Request, node: CurrentNode, user: CurrentUser, case_ref: str | None = None
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    _viewed(request, person, case_ref)
    return _person_read(person)


@router.get("/persons/{person_id}/journal", dependencies=[requires(PERSON_READ)])
def read_journal(
    person_id: RowId, request: Request, node: CurrentNode, user: CurrentUser, case_ref: str | None = None
) -> list[JournalEntryRead]:
    person = _load_person(request, node, user, person_id)
    _viewed(request, person, case_ref)
    entries = queries.journal(node, actor=user.id, id_number=person.id_number)
    return [JournalEntryRead.model_validate(e) for e in entries]


@router.get("/persons/{person_id}/status", dependencies=[requires(PERSON_READ)])
def read_status_on(
    person_id: RowId,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    on: date = Query(description="The day asked about (YYYY-MM-DD)."),
    case_ref: str | None = None,
) -> StatusRead:
    person = _load_person(request, node, user, person_id)
    _viewed(request, person, case_ref)
    status = queries.status_on(node, actor=user.id, id_number=person.id_number, on_date=on)
    return StatusRead.model_validate(status)


@router.post("/persons/{person_id}/moves", dependencies=[requires(PERSON_UPDATE)])
def move_person(
    person_id: RowId, body: MoveCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    _household_in_scope(request, node, user, body.to_household)
    moved = service.move_within_node(
        node,
        actor=user.id,
        id_number=person.id_number,
        to_household=body.to_household,
        relation=body.relation,
        reason=body.reason,
        on_date=body.on_date,
        case_ref=body.case_ref,
        new_head_id_number=body.new_head_id_number,
    )
    return _person_read(moved)


@router.post("/persons/{person_id}/cancellation", dependencies=[requires(PERSON_UPDATE)])
def cancel_person(
    person_id: RowId, body: CancellationCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    done = service.cancel_registration(
        node,
        actor=user.id,
        id_number=person.id_number,
        reason=body.reason,
        note=body.note,
        on_date=body.on_date,
        case_ref=body.case_ref,
        new_head_id_number=body.new_head_id_number,
    )
    return _person_read(done)


@router.post("/persons/{person_id}/corrections", dependencies=[requires(PERSON_UPDATE)])
def correct_person(
    person_id: RowId, body: CorrectionCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    done = service.correct_person(
        node,
        actor=user.id,
        id_number=person.id_number,
        changes=body.changes,
        reason=body.reason,
        on_date=body.on_date,
        case_ref=body.case_ref,
    )
    return _person_read(done)


@router.post("/persons/{person_id}/transit", dependencies=[requires(PERSON_UPDATE)])
def mark_in_transit(
    person_id: RowId, body: TransitCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    done = service.mark_in_transit(
        node,
        actor=user.id,
        id_number=person.id_number,
        case_ref=body.case_ref,
        on_date=body.on_date,
        reason=body.reason,
        new_head_id_number=body.new_head_id_number,
    )
    return _person_read(done)


@router.post("/persons/{person_id}/restoration", dependencies=[requires(PERSON_UPDATE)])
def restore_person(
    person_id: RowId, body: RestorationCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    if body.household_number is not None:
        _household_in_scope(request, node, user, body.household_number)
    done = service.restore_registration(
        node,
        actor=user.id,
        id_number=person.id_number,
        case_ref=body.case_ref,
        on_date=body.on_date,
        reason=body.reason,
        household_number=body.household_number,
        relation=body.relation,
    )
    return _person_read(done)


@router.post("/persons/{person_id}/moved-out", dependencies=[requires(PERSON_UPDATE)])
def confirm_moved_out(
    person_id: RowId, body: MovedOutCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> PersonRead:
    person = _load_person(request, node, user, person_id)
    done = service.confirm_moved_out(
        node,
        actor=user.id,
        id_number=person.id_number,
        case_ref=body.case_ref,
        on_date=body.on_date,
        reason=body.reason,
    )
    return _person_read(done)


@router.get("/search", dependencies=[requires(PERSON_SEARCH)])
def search(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    q: str = Query(min_length=1, max_length=64, description="Hanzi prefix, full pinyin or initials."),
    limit: int = Query(20, ge=1, le=100),
) -> list[PersonSummary]:
    """Persons in the user's jurisdiction whose name starts with ``q``; ID numbers masked."""
    _, prefix = scope_filter(request)
    if prefix is None:  # own-record scopes never search other people
        raise Forbidden(N_("You may not do this."))
    hits = queries.search_persons(node, actor=user.id, query=q, limit=limit, division_prefix=prefix)
    return [
        PersonSummary(
            person_id=h.person_id,
            id_number=present_id(user, h.id_number, person_division=h.division_code),
            name=h.name,
            sex=h.sex,
            birth_date=h.birth_date,
            status=h.status,
            household_number=h.household_number,
            division_code=h.division_code,
        )
        for h in hits
    ]


@router.post("/id-numbers", status_code=201, dependencies=[requires(PERSON_UPDATE)])
def allocate_id_number(
    body: IdNumberCreate, request: Request, node: CurrentNode, user: CurrentUser
) -> IdNumberRead:
    ensure_in_scope(request, body.area)
    number = service.allocate_id_number(
        node, actor=user.id, area=body.area, birth_date=body.birth_date, sex=body.sex
    )
    return IdNumberRead(id_number=number)
