"""The operator's exchange page: per peer, what is queued, awaiting receipt, acknowledged, parked, refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tongban.core.errors import NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.core.routing import requires
from tongban.exchange import store
from tongban.exchange.service import NodeExchange, directory_validity, retry_parked, status
from tongban.web.app import CurrentNode, render

router = APIRouter(prefix="/exchange")


def _exchange(node: NodeContext) -> NodeExchange:
    ex = node.services.get("exchange")
    if not isinstance(ex, NodeExchange):
        raise NotFound(N_("The exchange is not running for node {code}."), code=node.code)
    return ex


@router.get("", response_class=HTMLResponse, dependencies=[requires("exchange.status.read")])
def exchange_page(request: Request, node: CurrentNode) -> HTMLResponse:
    ex = _exchange(node)
    with node.db.session() as s:
        outgoing = [
            {
                "id": r.id,
                "peer": r.recipient,
                "type": r.type,
                "state": r.state,
                "attempts": r.attempts,
                "reason": r.reason or "",
            }
            for r in store.rejected_outbox(s)
        ]
        incoming = [
            {
                "id": r.envelope_id,
                "peer": r.sender,
                "type": r.type,
                "attempts": r.attempts,
                "error": (r.error or "")[:200],
            }
            for r in store.parked_inbox_rows(s)
        ]
        refused = [
            {
                "at": r.at,
                "peer": r.sender or "?",
                "type": r.type or "",
                "reason": r.reason,
                "retryable": r.retryable,
            }
            for r in store.recent_rejections(s)
        ]
    return render(
        request,
        "exchange/status.html",
        peers=status(ex),
        directory=directory_validity(ex),
        outgoing=outgoing,
        incoming=incoming,
        refused=refused,
        retried=request.query_params.get("retried"),
    )


@router.post("/retry", dependencies=[requires("exchange.parked.retry")])
def retry(
    request: Request, node: CurrentNode, envelope_id: Annotated[str | None, Form()] = None
) -> RedirectResponse:
    n = retry_parked(_exchange(node), ids=[envelope_id] if envelope_id else None)
    return RedirectResponse(f"/exchange?node={node.code}&retried={n}", status_code=303)
