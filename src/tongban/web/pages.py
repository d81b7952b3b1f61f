"""The shell's own pages: the home page and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tongban.core.migrate import current_heads
from tongban.core.routing import public
from tongban.web.app import CurrentRuntime, render

router = APIRouter()


@router.get("/", response_class=HTMLResponse, dependencies=[public()])
def home(request: Request, runtime: CurrentRuntime) -> HTMLResponse:
    nodes = []
    for node in runtime.nodes.values():
        nodes.append(
            {
                "code": node.code,
                "name": node.name,
                "backend": node.db.backend,
                "schema": sorted(current_heads(node.db)),
            }
        )
    return render(request, "web/home.html", node_rows=nodes)


@router.get("/healthz", dependencies=[public()])
def healthz(runtime: CurrentRuntime) -> dict[str, object]:
    return {"status": "ok", "nodes": sorted(runtime.nodes)}
