"""The migration REST API (``/api/v1/migrations``): thin routes over ``service``, ``origin``, ``samecity`` and
``identity``.

Every route declares its rule with ``requires`` (the cases actions: create, read, update, decide, and
``cases.task.decide`` for the origin's tasks); a case is loaded through the cases API's scope check first, so a
case outside the user's jurisdiction answers like a missing one. Errors are problem documents; an illegal step
of the saga is a 409 that changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from tongban.access.web import CurrentUser
from tongban.cases import window
from tongban.cases.api import actor_of, check_case, load_checked
from tongban.cases.window import Applicant, CaseView
from tongban.core.routing import requires
from tongban.migration import identity, origin, samecity
from tongban.migration import service as mig
from tongban.migration.common import update_action
from tongban.migration.reach import checked_task, task_division, task_in_scope
from tongban.registry import service as registry_service
from tongban.web.app import CurrentNode, CurrentTranslator

router = APIRouter(prefix="/migrations", tags=["migration"])

CASE_CREATE = "cases.case.create"
CASE_READ = "cases.case.read"
CASE_UPDATE = "cases.case.update"
CASE_DECIDE = "cases.case.decide"
TASK_DECIDE = "cases.task.decide"
PERSON_READ = "registry.person.read"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MigrationCreate(_Schema):
    matter: Literal["MIG-JOB", "MIG-STU", "MIG-GRAD", "MIG-SPOUSE", "MIG-PARENT"]
    id_number: str = Field(min_length=15, max_length=24)
    name: str = Field(min_length=1, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    locale: Literal["zh_CN", "en"] = "zh_CN"
    facts: dict[str, Any] = Field(default_factory=dict)
    household_number: str = Field(min_length=1, max_length=32)
    relation: str = Field(min_length=1, max_length=24)
    origin_address: str = Field(min_length=1, max_length=200)
    origin_division: str | None = Field(default=None, pattern=r"^\d{6}$")
    origin: str | None = Field(default=None, pattern=r"^\d{6}$")
    commitment_signed: bool


class SameCityCreate(_Schema):
    matter: Literal["MIG-JOB", "MIG-STU", "MIG-GRAD", "MIG-SPOUSE", "MIG-PARENT"]
    id_number: str = Field(min_length=15, max_length=24)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    locale: Literal["zh_CN", "en"] = "zh_CN"
    facts: dict[str, Any] = Field(default_factory=dict)
    household_number: str = Field(min_length=1, max_length=32)
    relation: str = Field(min_length=1, max_length=24)
    new_head_id_number: str | None = Field(default=None, max_length=18)


class Note(_Schema):
    note: str | None = Field(default=None, max_length=200)


class MoveInCreate(_Schema):
    household_number: str | None = Field(default=None, max_length=32)
    relation: str | None = Field(default=None, max_length=24)


class TaskDecision(_Schema):
    decision: Literal["move_out", "refuse"]
    note: str | None = Field(default=None, max_length=200)
    new_head_id_number: str | None = Field(default=None, max_length=18)


class IdentityCheck(_Schema):
    id_number: str = Field(min_length=15, max_length=24)


class MigrationRead(BaseModel):
    number: str
    matter: str
    origin: str
    routed_by: str
    state: str
    case_state: str
    close_reason: str | None
    eligible: bool | None
    explanation: str | None
    household_number: str | None
    permit_number: str | None
    certificate_number: str | None
    certificate_valid_until: datetime | None
    reason: str | None
    reason_text: str | None
    note: str | None


class OriginTaskRead(BaseModel):
    case_node: str
    case_number: str
    task_ref: str | None
    matter: str | None
    state: str
    reason: str | None
    certificate_number: str | None
    due: str | None


class IdentityRead(BaseModel):
    status: str
    valid: bool
    node: str | None
    case_ref: str | None
    text: str


def load_for_update(request: Request, node: Any, number: str, locale: str) -> CaseView:
    """The case, or 404 unless it lies within the user's reach for an update step: its office's
    ``cases.case.update``, or for an online application the county's ``cases.case.decide``."""
    v = window.view(node, number=number, locale=locale)
    check_case(request, v, update_action(v.case.accepting_office))
    return v


def _read(v: mig.MigrationView) -> MigrationRead:
    return MigrationRead(**v.__dict__)


def _applicant(node: Any, body: MigrationCreate | SameCityCreate) -> Applicant:
    return Applicant.parse(
        id_number=body.id_number,
        phone=body.phone,
        email=body.email,
        locale=body.locale,
        today=node.clock.now().date(),
    )


@router.post("", status_code=201, dependencies=[requires(CASE_CREATE)])
def accept(
    body: MigrationCreate, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    """Accept a migration at the destination (the applicant signed the notice and commitment)."""
    view = mig.accept_migration(
        node,
        actor=actor_of(user),
        applicant=_applicant(node, body),
        name=body.name,
        matter=body.matter,
        facts=body.facts,
        household_number=body.household_number,
        relation=body.relation,
        origin_address=body.origin_address,
        origin_division=body.origin_division,
        origin=body.origin,
        commitment_signed=body.commitment_signed,
    )
    return _read(mig.get_migration(node, number=view.number, locale=t.locale))


@router.post("/same-city", status_code=201, dependencies=[requires(CASE_CREATE)])
def same_city(
    body: SameCityCreate, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    """A same-city move: case, policy decision and move in one transaction."""
    view = samecity.move_in_city(
        node,
        actor=actor_of(user),
        applicant=_applicant(node, body),
        matter=body.matter,
        facts=body.facts,
        household_number=body.household_number,
        relation=body.relation,
        new_head_id_number=body.new_head_id_number,
    )
    return _read(mig.get_migration(node, number=view.number, locale=t.locale))


@router.get("/origin-tasks", dependencies=[requires(TASK_DECIDE)])
def origin_tasks(node: CurrentNode, user: CurrentUser, include_closed: bool = False) -> list[OriginTaskRead]:
    """The origin's queue of incoming move-out tasks within the user's jurisdiction, with their deadlines."""
    return [
        OriginTaskRead(**v.__dict__)
        for v in origin.list_tasks(node, include_closed=include_closed)
        if task_in_scope(user, task_division(node, v.case_number)[0])
    ]


@router.post("/origin-tasks/{number}", dependencies=[requires(TASK_DECIDE)])
def decide_origin_task(
    number: str, body: TaskDecision, request: Request, node: CurrentNode, user: CurrentUser
) -> OriginTaskRead:
    """The origin clerk moves the person out (certificate issued and sent) or refuses, with words; a task
    outside the clerk's jurisdiction answers 404 (audited)."""
    checked_task(request, node, user, number)
    if body.decision == "move_out":
        v = origin.move_out(
            node, actor=user.id, case_number=number, new_head_id_number=body.new_head_id_number
        )
    else:
        v = origin.refuse_move_out(node, actor=user.id, case_number=number, note=body.note or "")
    return OriginTaskRead(**v.__dict__)


@router.post("/identity-checks", dependencies=[requires(PERSON_READ)])
def identity_check(
    body: IdentityCheck, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> IdentityRead:
    """Ask the national locator; a person in transit is "temporarily invalid" with the owning case."""
    # A well-formed, checksummed ID number or a clear 422 (never a locator question about garbage).
    idn = registry_service.check_id_number(body.id_number, on=registry_service.today(node))
    found = identity.check(node, id_number=idn.number, actor=user.id)
    if found is None:
        return IdentityRead(status="pending", valid=False, node=None, case_ref=None, text="")
    return IdentityRead(
        status=found.status,
        valid=found.valid,
        node=found.node,
        case_ref=found.case_ref,
        text=found.text(t.locale),
    )


@router.get("/{number}", dependencies=[requires(CASE_READ)])
def get(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> MigrationRead:
    load_checked(request, node, number, t.locale)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/approve", dependencies=[requires(CASE_DECIDE)])
def approve(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    load_checked(request, node, number, t.locale)
    mig.approve(node, actor=actor_of(user), number=number)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/refuse", dependencies=[requires(CASE_DECIDE)])
def refuse(
    number: str, body: Note, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    load_checked(request, node, number, t.locale)
    mig.refuse(node, actor=actor_of(user), number=number, note=body.note)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/withdraw", dependencies=[requires(CASE_UPDATE)])
def withdraw(
    number: str, body: Note, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    load_for_update(request, node, number, t.locale)
    mig.withdraw(node, actor=actor_of(user), number=number, note=body.note)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/abandon", dependencies=[requires(CASE_DECIDE)])
def abandon(
    number: str, body: Note, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    load_checked(request, node, number, t.locale)
    mig.abandon(node, actor=actor_of(user), number=number, note=body.note)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/reissue-request", dependencies=[requires(CASE_UPDATE)])
def reissue(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> MigrationRead:
    load_for_update(request, node, number, t.locale)
    mig.request_reissue(node, actor=actor_of(user), number=number)
    return _read(mig.get_migration(node, number=number, locale=t.locale))


@router.post("/{number}/move-in", dependencies=[requires(CASE_UPDATE)])
def move_in(
    number: str,
    body: MoveInCreate,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> MigrationRead:
    load_for_update(request, node, number, t.locale)
    mig.move_in(
        node,
        actor=actor_of(user),
        number=number,
        household_number=body.household_number,
        relation=body.relation,
    )
    return _read(mig.get_migration(node, number=number, locale=t.locale))
