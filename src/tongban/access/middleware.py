"""Install access control on the app: the authorizer, the session loader, CSRF checks.

For every request the middleware finds the user (an API token in ``Authorization: Bearer``, or the
session cookie), and sets ``request.state.user`` (a ``Principal``, with ``display_name``, or None),
``request.state.csrf_token`` (for forms: a hidden ``csrf_token`` field; for htmx: the ``X-CSRF-Token``
header, sent with ``hx-headers``), and ``request.state.pending_session`` while a sign-in waits for its
second factor. A POST, PUT, PATCH or DELETE must carry the CSRF token, or it is refused with 403 before
any route runs; the one exception is a request that sends no cookie at all to a ``public()`` route (a
request without cookies carries no ambient authority, so it cannot be a cross-site forgery): paper
verification by a scanner or script. The sign-in forms stay protected even then, since a forged sign-in
would give a cookieless browser a session of the forger's choosing (login CSRF). An HTML page answering 401 becomes a redirect to the sign-in page.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import compile_path

from tongban.access import service
from tongban.access.accesslog import ViewBuffer
from tongban.access.domain import N_, Allow, AttemptWindow, Principal, decide
from tongban.access.identity import CitizenPasswords, StaffPasswords
from tongban.access.keys import app_secret
from tongban.access.settings import AccessSettings
from tongban.access.web import VIEW_SERVICE, SessionAuthorizer, cookie_secure
from tongban.audit.lifecycle import on_shutdown
from tongban.core.clock import SystemClock
from tongban.core.errors import TongbanError
from tongban.core.i18n import Translator
from tongban.core.node import NodeContext
from tongban.core.routing import declared_routes
from tongban.web.app import get_node, problem, request_locale

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# No framing (clickjacking of sign-in and admin forms), no MIME sniffing, no URLs leaking to other sites.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# Public routes that start a session: never exempt from the CSRF check (login CSRF).
SESSION_STARTING = frozenset({"/access/sign-in", "/access/sign-in/totp", "/access/sign-in/enrol"})


class PublicRoutes:
    """Which (method, path) pairs reach a ``public()`` route; built from the app's routes on first use."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._patterns: list[tuple[frozenset[str], re.Pattern[str]]] | None = None

    def _build(self) -> list[tuple[frozenset[str], re.Pattern[str]]]:
        found = []
        for route in declared_routes(list(self._app.routes)):
            if route.rule is None or route.rule.action is not None or route.path in SESSION_STARTING:
                continue
            regex, _, _ = compile_path(route.path)
            found.append((frozenset(route.methods), regex))
        return found

    def match(self, method: str, path: str) -> bool:
        if self._patterns is None:
            self._patterns = self._build()
        return any(method in methods and regex.match(path) for methods, regex in self._patterns)


def session_cookie_value(node: str, token: str) -> str:
    return f"{node}.{token}"


def anon_csrf(secret: bytes, anon: str) -> str:
    return hmac.new(secret, b"csrf:" + anon.encode(), hashlib.sha256).hexdigest()


def _node_or_none(request: Request) -> NodeContext | None:
    try:
        return get_node(request)
    except TongbanError:
        return None


# Pages of this capability a user may open, shown beside their name: (action, href, label msgid).
LINKS = (
    ("access.user.read", "/access/users", N_("User administration")),
    ("access.log.read", "/access/views", N_("Access records")),
    ("access.log.read_own", "/access/my-views", N_("Who viewed my record")),
)


def access_links(user: Principal | None) -> list[tuple[str, str]]:
    """(href, label msgid) of the access pages ``user`` may open (for the layout)."""
    if user is None:
        return []
    return [(href, label) for action, href, label in LINKS if isinstance(decide(user, action), Allow)]


def install(app: FastAPI) -> None:
    runtime = app.state.runtime
    settings: AccessSettings = (
        getattr(app.state, "access_settings", None)
        or runtime.extras.get("access_settings")
        or AccessSettings()
    )
    app.state.access_settings = settings
    app.state.authorizer = SessionAuthorizer()
    app.state.signin_limiter = AttemptWindow(settings.rate_limit_attempts, settings.rate_limit_window_s)
    secret = app_secret(runtime.settings)
    if not hasattr(app.state, "identity_providers"):
        # Replace "citizen" with an OIDC provider for the national e-ID (same protocol).
        app.state.identity_providers = {
            "staff": StaffPasswords(settings),
            "citizen": CitizenPasswords(settings, secret),
        }
    clock = SystemClock()
    public_routes = PublicRoutes(app)
    app.state.templates.globals["access_links"] = access_links

    @app.middleware("http")
    async def access_middleware(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request.state.user = None
        request.state.pending_session = None
        request.state.session = None
        node = _node_or_none(request)
        now = node.clock.now() if node is not None else clock.now()
        bearer = request.headers.get("authorization", "")
        by_token = False
        if bearer.lower().startswith("bearer ") and node is not None:
            principal = service.principal_for_token(
                node.db, token=bearer[7:].strip(), node=node.code, now=now
            )
            if principal is None:
                t = Translator(request_locale(request))
                return problem(
                    request,
                    401,
                    N_("Sign-in required"),
                    t(N_("The API token is not valid.")),
                    "unauthenticated",
                )
            request.state.user = principal
            by_token = True
        expected_csrf: str | None = None
        raw = request.cookies.get(settings.session_cookie, "")
        if raw and not by_token and "." in raw:
            code, token = raw.split(".", 1)
            home = runtime.nodes.get(code)
            if home is not None:
                loaded = service.load_session(home.db, token=token, now=home.clock.now())
                if loaded is not None:
                    request.state.session = loaded
                    expected_csrf = loaded.csrf_token
                    if loaded.stage == service.STAGE_ACTIVE:
                        request.state.user = loaded.user.principal(code)
                    else:
                        request.state.pending_session = loaded
        anon = request.cookies.get(settings.anon_cookie)
        new_anon = None
        if expected_csrf is None:
            if not anon:
                anon = new_anon = secrets.token_urlsafe(24)
            expected_csrf = anon_csrf(secret, anon)
        request.state.csrf_token = expected_csrf

        if (
            request.method in UNSAFE
            and not by_token
            and not (not request.cookies and public_routes.match(request.method, request.url.path))
        ):
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith(FORM_TYPES):
                await request.body()  # cached, so the route reads the same body again
                # Closing the form closes the uploads' spooled temporary files; the route parses its own.
                async with request.form() as form:
                    value = form.get(CSRF_FIELD)
                    sent = value if isinstance(value, str) else None
            if new_anon is not None or not sent or not hmac.compare_digest(sent, expected_csrf):
                t = Translator(request_locale(request))
                return problem(
                    request,
                    403,
                    N_("Forbidden"),
                    t(
                        N_(
                            "The form has expired or did not come from this site; reload the page and try again."
                        )
                    ),
                    "csrf",
                )

        response = await call_next(request)
        if (
            response.status_code == 401
            and request.method == "GET"
            and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", "")
            and request.state.user is None
        ):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse("/access/sign-in?next=" + quote(target, safe=""), status_code=303)
        if new_anon is not None:
            response.set_cookie(
                settings.anon_cookie,
                new_anon,
                httponly=True,
                secure=cookie_secure(request, settings),
                samesite="lax",
            )
        if request.state.user is not None or request.state.pending_session is not None:
            response.headers.setdefault("Cache-Control", "no-store")
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    def flush_access_records() -> None:
        for node in runtime.nodes.values():
            buf = node.services.get(VIEW_SERVICE)
            if isinstance(buf, ViewBuffer):
                buf.stop()

    on_shutdown(app, flush_access_records)
