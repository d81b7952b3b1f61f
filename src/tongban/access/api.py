"""Access API: who am I, accounts, scoped API tokens for other systems, access records."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tongban.access import service
from tongban.access.accesslog import views_in_scope, views_of_person
from tongban.access.domain import N_, Allow, Scope, Target, decide, division_prefix
from tongban.access.web import CurrentUser, scope_filter
from tongban.core.errors import InvalidInput
from tongban.core.routing import requires
from tongban.web.app import CurrentNode

router = APIRouter(prefix="/access", tags=["access"])


class MeRead(BaseModel):
    id: str
    kind: str
    role: str | None
    display_name: str
    node: str
    division_code: str | None
    office_code: str | None


class UserRead(BaseModel):
    id: int
    login: str | None
    kind: str
    role: str
    display_name: str
    division_code: str | None
    office_code: str | None
    totp_enrolled: bool
    locked: bool
    disabled: bool


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    actions: list[str] = Field(min_length=1, max_length=50)
    scope: str = Field(pattern="^(county|prefecture|province|nation)$")
    division_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    expires_at: datetime | None = None


class TokenCreated(BaseModel):
    token: str


class ViewRead(BaseModel):
    at: datetime
    viewer_id: str
    viewer_role: str
    viewer_division: str | None
    viewer_office: str | None
    person_ref: str
    person_division: str | None
    reason: str
    reason_ref: str | None


@router.get("/me", dependencies=[requires("access.account.self")])
def me(user: CurrentUser) -> MeRead:
    return MeRead(
        id=user.id,
        kind=user.kind.value,
        role=user.role.value if user.role else None,
        display_name=user.display_name,
        node=user.node,
        division_code=user.division_code,
        office_code=user.office_code,
    )


@router.get("/users", dependencies=[requires("access.user.read")])
def users(request: Request, node: CurrentNode, user: CurrentUser) -> list[UserRead]:
    scope, prefix = scope_filter(request)
    if scope is Scope.OFFICE:
        rows = service.list_users(node.db, division_prefix=user.division_code, office_code=user.office_code)
    else:
        rows = service.list_users(node.db, division_prefix=prefix)
    return [
        UserRead(
            id=u.id,
            login=None if u.kind.value == "citizen" else u.login,  # a citizen's login is a digest of their ID
            kind=u.kind.value,
            role=u.role.value,
            display_name=u.display_name,
            division_code=u.division_code,
            office_code=u.office_code,
            totp_enrolled=u.totp_enrolled,
            locked=u.locked,
            disabled=u.disabled,
        )
        for u in rows
    ]


@router.post("/tokens", status_code=201, dependencies=[requires("access.token.manage")])
def create_token(body: TokenCreate, node: CurrentNode, user: CurrentUser) -> TokenCreated:
    scope = Scope[body.scope.upper()]
    # A token never reaches further than its creator's own power to issue tokens: same division, no wider.
    target = Target(division_code=body.division_code) if body.division_code else None
    decision = decide(user, "access.token.manage", target)
    if not isinstance(decision, Allow) or decision.scope < scope:
        raise InvalidInput(N_("A token may not reach further than your own jurisdiction."))
    if scope is not Scope.NATION and body.division_code is None:
        raise InvalidInput(N_("A token scoped below the nation needs a six-digit division code."))
    token = service.create_api_token(
        node.db,
        name=body.name,
        actions=body.actions,
        scope=scope,
        division_code=body.division_code,
        actor=user.id,
        now=node.clock.now(),
        expires_at=body.expires_at,
    )
    return TokenCreated(token=token)


def _view_read(r: object) -> ViewRead:
    return ViewRead.model_validate(r, from_attributes=True)


@router.get("/views", dependencies=[requires("access.log.read")])
def views(
    request: Request, node: CurrentNode, user: CurrentUser, person: str | None = None
) -> list[ViewRead]:
    scope, prefix = scope_filter(request)
    office = None
    if scope is Scope.OFFICE:
        office, prefix = user.office_code, division_prefix(user, Scope.COUNTY)
    return [
        _view_read(r)
        for r in views_in_scope(node.db, division_prefix=prefix, viewer_office=office, person_ref=person)
    ]


@router.get("/my-views", dependencies=[requires("access.log.read_own")])
def my_views(node: CurrentNode, user: CurrentUser) -> list[ViewRead]:
    if not user.person_ref:
        return []
    return [_view_read(r) for r in views_of_person(node.db, person_ref=user.person_ref)]
