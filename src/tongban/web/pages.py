"""The shell's own pages: the home page and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tongban.core.migrate import current_heads
from tongban.core.plugins import capability_modules
from tongban.core.routing import public
from tongban.web.app import CurrentRuntime, CurrentTranslator, render

router = APIRouter()


@router.get("/", response_class=HTMLResponse, dependencies=[public()])
def home(request: Request, runtime: CurrentRuntime, t: CurrentTranslator) -> HTMLResponse:
    # Capabilities add columns to the node table: a pages module's HOME_COLUMNS, (English heading, node -> text).
    columns = [c for module in capability_modules("pages") for c in getattr(module, "HOME_COLUMNS", ())]
    nodes = []
    for node in runtime.nodes.values():
        nodes.append(
            {
                "code": node.code,
                "name": node.name,
                "backend": node.db.backend,
                "schema": sorted(current_heads(node.db)),
                "extra": [value(node) for _heading, value in columns],
            }
        )
    # And sections below it: a pages module's HOME_SECTIONS, callables of the request giving HTML (or None).
    sections = [
        html
        for module in capability_modules("pages")
        for section in getattr(module, "HOME_SECTIONS", ())
        if (html := section(request))
    ]
    return render(
        request,
        "web/home.html",
        node_rows=nodes,
        extra_heads=[t(h) for h, _value in columns],
        sections=[Markup(html) for html in sections],  # noqa: S704 - rendered by the capability's template
    )


@router.get("/healthz", dependencies=[public()])
def healthz(runtime: CurrentRuntime) -> dict[str, object]:
    return {"status": "ok", "nodes": sorted(runtime.nodes)}
