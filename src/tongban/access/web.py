"""What routes of every capability use: the current user, scope checks, access records, CSRF tokens.

- ``CurrentUser``: FastAPI dependency alias for the signed-in ``Principal`` (401 when nobody is).
- ``OptionalUser``: the same, or None.
- ``ensure_in_scope(request, division_code, ...)``: after loading a record, check it lies within the scope
  of the route's action for this user; a record outside answers exactly like a missing one (404).
- ``scope_filter(request, action)``: the division prefix a list query must match (for searches).
- ``record_view(request, person_ref=..., ...)``: write the access record of a view of a person's record.
- ``SessionAuthorizer``: the ``tongban.core.routing.Authorizer`` installed on ``app.state.authorizer``.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from tongban.access.accesslog import ViewBuffer
from tongban.access.domain import N_, Allow, Principal, Scope, Target, decide, division_prefix
from tongban.access.settings import AccessSettings
from tongban.core.errors import Forbidden, NotFound, Unauthenticated
from tongban.core.node import NodeContext
from tongban.web.app import get_node

VIEW_SERVICE = "access.views"
_buffer_lock = threading.Lock()


def access_settings(request: Request) -> AccessSettings:
    settings: AccessSettings | None = getattr(request.app.state, "access_settings", None)
    if settings is None:
        settings = AccessSettings()
        request.app.state.access_settings = settings
    return settings


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def cookie_secure(request: Request, settings: AccessSettings) -> bool:
    """Whether cookies get the Secure flag: as configured, else always but for plain http to localhost."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return not (request.url.scheme == "http" and (request.url.hostname or "") in LOCAL_HOSTS)


def optional_user(request: Request) -> Principal | None:
    user: Principal | None = getattr(request.state, "user", None)
    return user


def current_user(request: Request) -> Principal:
    user = optional_user(request)
    if user is None:
        raise Unauthenticated(N_("Please sign in."))
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]
OptionalUser = Annotated[Principal | None, Depends(optional_user)]


def _action_of(request: Request, action: str | None) -> str:
    if action is not None:
        return action
    rule = getattr(request.state, "rule", None)
    if rule is None or rule.action is None:
        raise RuntimeError("ensure_in_scope needs the route's action: pass action= on public routes")
    return str(rule.action)


def ensure_in_scope(
    request: Request,
    division_code: str | None = None,
    *,
    office_code: str | None = None,
    person_ref: str | None = None,
    enterprise_id: str | None = None,
    matter: str | None = None,
    action: str | None = None,
) -> Allow:
    """Raise ``NotFound`` unless the record described lies within the user's scope for the action.

    The action defaults to the one the route declared with ``requires(...)``. Outside the scope the answer
    is the same 404 as for a record that does not exist, so guessing identifiers reveals nothing.
    """
    user = current_user(request)
    target = Target(
        division_code=division_code,
        office_code=office_code,
        person_ref=person_ref,
        enterprise_id=enterprise_id,
        matter=matter,
    )
    decision = decide(user, _action_of(request, action), target)
    if not isinstance(decision, Allow):
        raise NotFound(N_("Not found"))
    return decision


def in_scope(request: Request, division_code: str | None = None, **kw: str | None) -> bool:
    """Like ``ensure_in_scope`` but answering True/False (to filter lists)."""
    try:
        ensure_in_scope(request, division_code, **kw)
    except NotFound:
        return False
    return True


def scope_filter(request: Request, action: str | None = None) -> tuple[Scope, str | None]:
    """The widest scope of the action for the user, and the division prefix a search must match.

    The prefix is '' for the whole nation, and None for non-territorial scopes (own records, own office),
    where the caller filters by ``user.person_ref`` / ``user.office_code`` instead.
    """
    user = current_user(request)
    decision = decide(user, _action_of(request, action))
    if not isinstance(decision, Allow):
        raise Forbidden(N_("You may not do this."))
    return decision.scope, division_prefix(user, decision.scope)


def view_buffer(node: NodeContext, settings: AccessSettings | None = None) -> ViewBuffer:
    """The node's buffer of access records (started on first use when the runtime did not attach it)."""
    buf = node.services.get(VIEW_SERVICE)
    if isinstance(buf, ViewBuffer):
        return buf
    with _buffer_lock:
        buf = node.services.get(VIEW_SERVICE)
        if not isinstance(buf, ViewBuffer):
            s = settings or AccessSettings()
            buf = ViewBuffer(
                node.db,
                node.clock,
                interval_s=s.view_flush_interval_s,
                batch=s.view_batch,
                max_pending=s.view_buffer_max,
            )
            buf.start()
            node.services[VIEW_SERVICE] = buf
        return buf


def record_view(
    request: Request,
    *,
    person_ref: str,
    person_division: str | None,
    reason: str,
    reason_ref: str | None = None,
    action: str | None = None,
) -> None:
    """Record that the current user viewed a person's record, and why.

    ``reason`` is ``case`` (``reason_ref`` = the case reference), ``search`` (``reason_ref`` = the search's
    id, not its terms) or ``own`` (a citizen viewing their own record).
    """
    user = current_user(request)
    node = get_node(request)
    view_buffer(node, access_settings(request)).record(
        user,
        person_ref=person_ref,
        person_division=person_division,
        reason=reason,
        reason_ref=reason_ref,
        action=_action_of(request, action),
    )


class SessionAuthorizer:
    """Checks a route's action for the request's user (loaded by the access middleware)."""

    async def check(self, request: Request, action: str) -> None:
        user = optional_user(request)
        if user is None:
            raise Unauthenticated(N_("Please sign in."))
        decision = decide(user, action)
        if not isinstance(decision, Allow):
            raise Forbidden(N_("You may not do this."))
        try:
            node = get_node(request)
        except NotFound:
            return
        if node.code != user.node and decision.scope is not Scope.NATION:
            # An account acts on its own node; only nation-wide grants reach across.
            raise Forbidden(N_("Your account belongs to another node."))
