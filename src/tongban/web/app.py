"""The app factory: one FastAPI app serving the pages and the API of one or several nodes."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

import tongban
from tongban.core.errors import NotFound, TongbanError
from tongban.core.i18n import LOCALE_NAMES, LOCALES, N_, Translator, normalize_locale
from tongban.core.node import NodeContext
from tongban.core.plugins import capability_modules
from tongban.core.routing import undeclared_routes
from tongban.core.settings import Settings

log = logging.getLogger("tongban.web")
PACKAGE_DIR = Path(tongban.__file__).parent
LANG_COOKIE = "tongban_lang"
NODE_COOKIE = "tongban_node"
PROBLEM_JSON = "application/problem+json"


@dataclass
class Runtime:
    """What a running process serves: its settings and its nodes (one, or several embedded)."""

    settings: Settings
    nodes: dict[str, NodeContext]
    embedded: bool = True
    extras: dict[str, Any] = field(default_factory=dict)


def template_dirs() -> list[Path]:
    return [PACKAGE_DIR / "web" / "templates", *sorted(PACKAGE_DIR.glob("*/templates"))]


def make_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader([str(p) for p in dict.fromkeys(template_dirs())]),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def request_locale(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if lang:
        return normalize_locale(lang)
    runtime: Runtime = request.app.state.runtime
    return normalize_locale(runtime.settings.default_locale)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_translator(request: Request) -> Translator:
    return Translator(request_locale(request))


def get_node(request: Request) -> NodeContext:
    """The node a request addresses: header, query, cookie, or the process's only/first node."""
    runtime = get_runtime(request)
    code = (
        request.headers.get("x-tongban-node")
        or request.query_params.get("node")
        or request.cookies.get(NODE_COOKIE)
    )
    if code:
        node = runtime.nodes.get(code)
        if node is None:
            raise NotFound(N_("No node with code {code} is served here."), code=code)
        return node
    if not runtime.nodes:
        raise NotFound(N_("This process serves no node yet."))
    return next(iter(runtime.nodes.values()))


CurrentNode = Annotated[NodeContext, Depends(get_node)]
CurrentTranslator = Annotated[Translator, Depends(get_translator)]
CurrentRuntime = Annotated[Runtime, Depends(get_runtime)]


def capability_nav(request: Request, t: Translator) -> list[dict[str, str]]:
    """Main-navigation entries of the capabilities, in capability order.

    A ``pages`` module offers static entries as ``NAV`` (address, English label), and entries that depend on
    the request (the user's role, an unread count) through ``nav_entries(request, t)``.
    """
    items: list[dict[str, str]] = []
    for module in capability_modules("pages"):
        items.extend({"href": href, "label": t(label)} for href, label in getattr(module, "NAV", ()))
        dynamic = getattr(module, "nav_entries", None)
        if dynamic is not None:
            items.extend(dynamic(request, t))
    return items


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page in the request's language, with the layout's common context."""
    t = get_translator(request)
    runtime = get_runtime(request)
    env: Environment = request.app.state.templates
    try:
        current = get_node(request)
    except TongbanError:
        current = None
    base = {
        "request": request,
        "_": t,
        "gettext": t,
        "ngettext": t.ngettext,
        "locale": t.locale,
        "html_lang": "zh-CN" if t.locale == "zh_CN" else "en",
        "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
        "nodes": list(runtime.nodes.values()),
        "current_node": current,
        "embedded": runtime.embedded,
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "nav_items": capability_nav(request, t),
    }
    base.update(context)
    html = env.get_template(template).render(**base)
    return HTMLResponse(html, status_code=status_code)


def wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method == "GET"


def problem(request: Request, status: int, title: str, detail: str, code: str, **extra: Any) -> Response:
    t = get_translator(request)
    if wants_html(request):
        return render(
            request,
            "web/error.html",
            status_code=status,
            status=status,
            title=t(title),
            detail=detail,
            code=code,
        )
    body = {
        "type": f"https://tongban.example/problems/{code}",
        "title": t(title),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TongbanError)
    async def _tongban_error(request: Request, exc: TongbanError) -> Response:
        t = get_translator(request)
        extra = {k: v for k, v in exc.params.items() if isinstance(v, str | int | float | bool)}
        return problem(request, exc.status, exc.title, t(exc.message, **exc.params), exc.code, params=extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        t = get_translator(request)
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        detail = t(N_("The request has {n} invalid field(s)."), n=len(errors))
        return problem(request, 422, N_("Invalid input"), detail, "invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        t = get_translator(request)
        titles = {
            404: (N_("Not found"), N_("There is nothing at this address."), "not-found"),
            405: (
                N_("Method not allowed"),
                N_("This address does not accept this method."),
                "method-not-allowed",
            ),
        }
        title, detail, code = titles.get(
            exc.status_code,
            (N_("Request could not be processed"), N_("The request was refused."), "http-error"),
        )
        return problem(request, exc.status_code, title, t(detail), code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Log the type and the route only: an exception's text may carry personal data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        t = get_translator(request)
        return problem(
            request,
            500,
            N_("Internal error"),
            t(N_("Something went wrong on our side; nothing was changed.")),
            "internal-error",
        )


# A JSON escape of NUL that is not itself an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_NUL_CHECKED_BODY_BYTES = 1 << 20


async def carries_nul(request: Request) -> bool:
    """Whether the path, the query, a JSON or a URL-encoded form body carries a NUL character.

    No field of tongban has a use for NUL, and PostgreSQL text cannot hold it (the driver raises DataError):
    such requests are refused as invalid input before any query.
    """
    if "\x00" in request.url.path:
        return True
    if any("\x00" in k or "\x00" in v for k, v in request.query_params.multi_items()):
        return True
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length", "")
    if not (length.isdigit() and int(length) <= _NUL_CHECKED_BODY_BYTES):
        return False
    if content_type.startswith("application/json"):
        return _JSON_NUL.search(await request.body()) is not None
    if content_type.startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        return b"%00" in body or b"\x00" in body
    return False


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="tongban",
        version=tongban.__version__,
        description="Cross-province household-registration services (通办).",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.templates = make_templates()
    install_error_handlers(app)

    @app.middleware("http")
    async def refuse_nul_characters(request: Request, call_next: Any) -> Response:
        if await carries_nul(request):
            t = get_translator(request)
            detail = t(N_("The request contains a NUL character, which no field accepts."))
            return problem(request, 422, N_("Invalid input"), detail, "invalid-input")
        response: Response = await call_next(request)
        return response

    @app.middleware("http")
    async def remember_choices(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        lang = request.query_params.get("lang")
        if lang:
            response.set_cookie(LANG_COOKIE, normalize_locale(lang), max_age=365 * 86400, samesite="lax")
        node = request.query_params.get("node")
        if node and node in runtime.nodes and not request.url.path.startswith("/api/"):
            response.set_cookie(NODE_COOKIE, node, max_age=365 * 86400, samesite="lax")
        return response

    app.mount("/static", StaticFiles(directory=PACKAGE_DIR / "web" / "static"), name="static")
    from tongban.web import pages as shell_pages

    app.include_router(shell_pages.router)
    for module in capability_modules("pages"):
        app.include_router(module.router)
    for module in capability_modules("api"):
        app.include_router(module.router, prefix="/api/v1")
    for module in capability_modules("middleware"):
        module.install(app)

    missing = undeclared_routes(app.routes)
    if missing:
        raise RuntimeError("routes without a declared permission rule: " + ", ".join(missing))
    return app


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
