"""Access pages: sign-in with the second factor and its enrolment, user administration, access-log review,
and "who viewed my record" for citizens."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from tongban.access import credentials, service
from tongban.access.accesslog import views_in_scope, views_of_person
from tongban.access.domain import (
    N_,
    ROLE_LABELS,
    SCOPE_LABELS,
    STAFF_ROLES,
    AccountLocked,
    Allow,
    Principal,
    Role,
    Scope,
    Target,
    TooManyAttempts,
    decide,
    division_prefix,
)
from tongban.access.identity import IdentityProvider
from tongban.access.keys import app_secret
from tongban.access.settings import AccessSettings
from tongban.access.web import CurrentUser, access_settings, cookie_secure, scope_filter
from tongban.core.errors import InvalidInput, NotFound, TongbanError, Unauthenticated
from tongban.core.node import NodeContext
from tongban.core.routing import RowId, public, requires
from tongban.web.app import CurrentNode, CurrentTranslator, redirect, render

router = APIRouter(prefix="/access")

# Rank of staff roles: a manager assigns only roles ranked below their own.
ROLE_RANK = {
    Role.WINDOW_CLERK: 1,
    Role.REVIEWER: 2,
    Role.OFFICE_HEAD: 3,
    Role.COUNTY_SUPERVISOR: 4,
    Role.PROVINCIAL_ADMIN: 5,
    Role.NATIONAL_SUPERVISOR: 6,
}


def safe_next(value: str | None) -> str:
    """Only local paths: never an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _key(request: Request) -> bytes:
    """The node secret that encrypts second-factor secrets at rest."""
    return app_secret(request.app.state.runtime.settings)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_session_cookie(
    request: Request, response: Response, settings: AccessSettings, node: str, new: service.NewSession
) -> None:
    from tongban.access.middleware import session_cookie_value

    response.set_cookie(
        settings.session_cookie,
        session_cookie_value(node, new.token),
        httponly=True,
        secure=cookie_secure(request, settings),
        samesite="lax",
        max_age=new.ttl_s,
        path="/",
    )


def _pending(request: Request, stage: str) -> service.LoadedSession | None:
    """The sign-in waiting for this step, if any (the step's page starts the sign-in over otherwise)."""
    pending: service.LoadedSession | None = getattr(request.state, "pending_session", None)
    if pending is None or pending.stage != stage:
        return None
    return pending


def _start_over(next_: str) -> RedirectResponse:
    return redirect("/access/sign-in?next=" + quote(safe_next(next_), safe=""))


@router.get("/sign-in", response_class=HTMLResponse, dependencies=[public()])
def sign_in_page(request: Request, next: str = "/", kind: str = "staff") -> HTMLResponse:
    return render(request, "access/sign_in.html", next=safe_next(next), kind=kind, error=None)


@router.post("/sign-in", dependencies=[public()])
def sign_in(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    login: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=256)],
    kind: Annotated[str, Form()] = "staff",
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings = access_settings(request)
    providers: dict[str, IdentityProvider] = request.app.state.identity_providers
    provider = providers.get(kind)
    target = safe_next(next)
    now = node.clock.now()

    def again(message: str, status: int) -> HTMLResponse:
        return render(
            request, "access/sign_in.html", status_code=status, next=target, kind=kind, error=message
        )

    if provider is None:
        return again(t(N_("Unknown way of signing in.")), 422)
    limiter = request.app.state.signin_limiter
    mono = now.timestamp()
    if not (
        limiter.allow("ip:" + _client(request), mono) and limiter.allow(f"login:{kind}:{login.strip()}", mono)
    ):
        return again(t(TooManyAttempts.title) + ": " + t(N_("wait a minute before trying again.")), 429)
    try:
        user = provider.authenticate(node, credentials={"login": login, "password": password}, now=now)
    except (Unauthenticated, AccountLocked) as exc:
        return again(t(exc.message, **exc.params), exc.status)
    stage = service.stage_after_password(user)
    new = service.open_session(node.db, settings=settings, user_id=user.id, stage=stage, now=now)
    if stage == service.STAGE_TOTP:
        response: Response = redirect("/access/sign-in/totp?next=" + quote(target, safe=""))
    elif stage == service.STAGE_ENROL:
        response = redirect("/access/sign-in/enrol?next=" + quote(target, safe=""))
    else:
        response = redirect(target)
    _set_session_cookie(request, response, settings, node.code, new)
    return response


def _promote(request: Request, node: NodeContext, pending: service.LoadedSession, target: str) -> Response:
    settings = access_settings(request)
    service.close_session(node.db, token_hash=pending.token_hash)
    new = service.open_session(
        node.db, settings=settings, user_id=pending.user.id, stage=service.STAGE_ACTIVE, now=node.clock.now()
    )
    response = redirect(target)
    _set_session_cookie(request, response, settings, node.code, new)
    return response


@router.get("/sign-in/totp", dependencies=[public()])
def totp_page(request: Request, next: str = "/") -> Response:
    if _pending(request, service.STAGE_TOTP) is None:
        return _start_over(next)
    return render(request, "access/totp.html", next=safe_next(next), error=None)


@router.post("/sign-in/totp", dependencies=[public()])
def totp_submit(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    code: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    pending = _pending(request, service.STAGE_TOTP)
    if pending is None:
        return _start_over(next)
    try:
        service.check_totp(
            node.db,
            settings=access_settings(request),
            key=_key(request),
            user_id=pending.user.id,
            code=code,
            now=node.clock.now(),
            actor=str(pending.user.id),
        )
    except (Unauthenticated, AccountLocked) as exc:
        return render(
            request, "access/totp.html", status_code=exc.status, next=safe_next(next), error=t(exc.message)
        )
    return _promote(request, node, pending, safe_next(next))


def _enrol_context(request: Request, node: NodeContext, pending: service.LoadedSession) -> dict[str, Any]:
    secret = service.pending_totp_secret(node.db, user_id=pending.user.id, key=_key(request))
    if secret is None:
        secret = service.start_totp_enrolment(node.db, user_id=pending.user.id, key=_key(request))
    settings = access_settings(request)
    uri = credentials.totp_uri(
        secret, account=f"{pending.user.login}@{node.code}", issuer=settings.totp_issuer
    )
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"qr_svg": Markup(credentials.totp_qr_svg(uri)), "secret": grouped}  # noqa: S704 - segno's own SVG


@router.get("/sign-in/enrol", dependencies=[public()])
def enrol_page(request: Request, node: CurrentNode, next: str = "/") -> Response:
    pending = _pending(request, service.STAGE_ENROL)
    if pending is None:
        return _start_over(next)
    return render(
        request,
        "access/enrol.html",
        next=safe_next(next),
        error=None,
        **_enrol_context(request, node, pending),
    )


@router.post("/sign-in/enrol", dependencies=[public()])
def enrol_submit(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    code: Annotated[str, Form(max_length=16)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    pending = _pending(request, service.STAGE_ENROL)
    if pending is None:
        return _start_over(next)
    try:
        service.check_totp(
            node.db,
            settings=access_settings(request),
            key=_key(request),
            user_id=pending.user.id,
            code=code,
            now=node.clock.now(),
            actor=str(pending.user.id),
        )
    except (Unauthenticated, AccountLocked) as exc:
        return render(
            request,
            "access/enrol.html",
            status_code=exc.status,
            next=safe_next(next),
            error=t(exc.message),
            **_enrol_context(request, node, pending),
        )
    return _promote(request, node, pending, safe_next(next))


@router.post("/sign-out", dependencies=[public()])
def sign_out(request: Request) -> Response:
    settings = access_settings(request)
    loaded: service.LoadedSession | None = getattr(request.state, "session", None)
    if loaded is not None:
        raw = request.cookies.get(settings.session_cookie, "")
        home = request.app.state.runtime.nodes.get(raw.split(".", 1)[0])
        if home is not None:
            service.close_session(home.db, token_hash=loaded.token_hash)
    response = redirect("/access/sign-in")
    response.delete_cookie(
        settings.session_cookie,
        path="/",
        secure=cookie_secure(request, settings),
        httponly=True,
        samesite="lax",
    )
    return response


# -- user administration -----------------------------------------------------------------------------


def assignable_roles(user: Principal) -> list[Role]:
    rank = ROLE_RANK.get(user.role) if user.role is not None else None
    if rank is None:
        return []
    return [r for r in ROLE_RANK if ROLE_RANK[r] < rank]


def _users_in_scope(request: Request, node: NodeContext, user: Principal) -> list[service.UserInfo]:
    scope, prefix = scope_filter(request, "access.user.read")
    if scope is Scope.OFFICE:
        return service.list_users(node.db, division_prefix=user.division_code, office_code=user.office_code)
    return service.list_users(node.db, division_prefix=prefix)


def _may_manage(user: Principal) -> bool:
    return isinstance(decide(user, "access.user.manage"), Allow)


@router.get("/users", response_class=HTMLResponse, dependencies=[requires("access.user.read")])
def users_page(
    request: Request, node: CurrentNode, user: CurrentUser, done: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "access/users.html",
        rows=_users_in_scope(request, node, user),
        role_labels=ROLE_LABELS,
        roles=assignable_roles(user),
        may_manage=_may_manage(user),
        error=None,
        done=done,
    )


def _managed_user(request: Request, node: NodeContext, user_id: int) -> service.UserInfo:
    """The account to manage, 404 unless it lies in the manager's scope and ranks below them."""
    try:
        target = service.get_user(node.db, user_id=user_id)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    user: Principal = request.state.user
    decision = decide(
        user,
        "access.user.manage",
        Target(division_code=target.division_code, office_code=target.office_code),
    )
    if not isinstance(decision, Allow) or target.role not in assignable_roles(user):
        raise NotFound(N_("Not found"))
    return target


@router.post("/users", response_class=HTMLResponse, dependencies=[requires("access.user.manage")])
def add_user(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    login: Annotated[str, Form(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")],
    display_name: Annotated[str, Form(min_length=1, max_length=64)],
    role: Annotated[Role, Form()],
    division_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    office_code: Annotated[str, Form(min_length=1, max_length=32)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> Response:
    try:
        if role not in assignable_roles(user) or role not in STAFF_ROLES:
            raise InvalidInput(N_("You may not give this role."))
        decision = decide(
            user, "access.user.manage", Target(division_code=division_code, office_code=office_code)
        )
        if not isinstance(decision, Allow):
            raise InvalidInput(N_("This office lies outside your jurisdiction."))
        service.add_user(
            node.db,
            settings=access_settings(request),
            now=node.clock.now(),
            actor=user.id,
            login=login,
            role=role,
            display_name=display_name,
            password=password,
            division_code=division_code,
            office_code=office_code,
        )
    except TongbanError as exc:
        return render(
            request,
            "access/users.html",
            status_code=exc.status,
            rows=_users_in_scope(request, node, user),
            role_labels=ROLE_LABELS,
            roles=assignable_roles(user),
            may_manage=True,
            error=t(exc.message, **exc.params),
            done=None,
        )
    return redirect("/access/users?done=added")


@router.post("/users/{user_id}/disable", dependencies=[requires("access.user.manage")])
def disable_user(request: Request, node: CurrentNode, user: CurrentUser, user_id: RowId) -> Response:
    target = _managed_user(request, node, user_id)
    service.set_disabled(
        node.db, user_id=target.id, disabled=not target.disabled, actor=user.id, now=node.clock.now()
    )
    return redirect("/access/users?done=" + ("enabled" if target.disabled else "disabled"))


@router.post("/users/{user_id}/reset-password", dependencies=[requires("access.user.manage")])
def reset_password(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    user_id: RowId,
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> Response:
    target = _managed_user(request, node, user_id)
    service.reset_password(
        node.db,
        settings=access_settings(request),
        user_id=target.id,
        password=password,
        actor=user.id,
        now=node.clock.now(),
        reset_totp=True,
    )
    return redirect("/access/users?done=reset")


# -- access records ----------------------------------------------------------------------------------


def _view_rows(node: NodeContext, rows: Any) -> list[dict[str, Any]]:
    ids = {int(r.viewer_id) for r in rows if r.viewer_id.isdigit()}
    names = service.user_rows_for_names(node.db, ids)
    out = []
    for r in rows:
        name, _role, _office = (
            names.get(int(r.viewer_id), (r.viewer_id, r.viewer_role, r.viewer_office))
            if r.viewer_id.isdigit()
            else (r.viewer_id, r.viewer_role, r.viewer_office)
        )
        out.append(
            {
                "at": r.at,
                "viewer": name,
                "viewer_role": r.viewer_role,
                "viewer_office": r.viewer_office,
                "viewer_division": r.viewer_division,
                "person_ref": r.person_ref,
                "person_division": r.person_division,
                "reason": r.reason,
                "reason_ref": r.reason_ref,
                "action": r.action,
            }
        )
    return out


REASON_LABELS = {"case": N_("case"), "search": N_("search"), "own": N_("own record"), "paper": N_("paper")}


@router.get("/views", response_class=HTMLResponse, dependencies=[requires("access.log.read")])
def views_page(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    person: str | None = None,
    viewer: str | None = None,
) -> HTMLResponse:
    scope, prefix = scope_filter(request)
    office = user.office_code if scope is Scope.OFFICE else None
    if scope is Scope.OFFICE:
        prefix = division_prefix(user, Scope.COUNTY)
    rows = views_in_scope(
        node.db,
        division_prefix=prefix,
        viewer_office=office,
        person_ref=person or None,
        viewer_id=viewer or None,
    )
    return render(
        request,
        "access/views.html",
        rows=_view_rows(node, rows),
        scope_label=SCOPE_LABELS[scope],
        role_labels=ROLE_LABELS,
        reason_labels=REASON_LABELS,
        person=person or "",
        viewer=viewer or "",
    )


@router.get("/my-views", response_class=HTMLResponse, dependencies=[requires("access.log.read_own")])
def my_views_page(request: Request, node: CurrentNode, user: CurrentUser) -> HTMLResponse:
    rows = views_of_person(node.db, person_ref=user.person_ref or "") if user.person_ref else []
    return render(
        request,
        "access/my_views.html",
        rows=[
            {
                "at": r.at,
                "viewer_role": r.viewer_role,
                "viewer_office": r.viewer_office,
                "viewer_division": r.viewer_division,
                "reason": r.reason,
                "reason_ref": r.reason_ref,
                "own": r.viewer_id == user.id,
            }
            for r in rows
        ],
        role_labels=ROLE_LABELS,
        reason_labels=REASON_LABELS,
    )
