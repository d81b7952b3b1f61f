"""The window clerk's view of a CERT case at the accepting node: where the request went, what came back, and
the issued paper as PDF (to print and hand over) or as its signed JSON form."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tongban.access.web import CurrentUser
from tongban.audit.service import record_audit
from tongban.cases.api import CASE_READ, load_checked
from tongban.cert import store
from tongban.cert.domain import Refusal
from tongban.cert.tables import CertRequestRow
from tongban.core.errors import NotFound
from tongban.core.i18n import N_
from tongban.core.routing import requires
from tongban.papers import forms, render
from tongban.papers.api import actor_of
from tongban.papers.domain import read_payload
from tongban.web.app import CurrentNode, CurrentTranslator
from tongban.web.app import render as render_page

router = APIRouter(prefix="/cert")

STATE_TEXTS = {
    store.SENT: N_("sent to the hukou locality, waiting for its answer"),
    store.ISSUED: N_("certificate issued"),
    store.REFUSED: N_("refused by the hukou locality"),
}
ROUTE_TEXTS = {
    "locator": N_("national locator"),
    "id-prefix": N_("ID number's province (fallback)"),
}


def _request(node: CurrentNode, number: str) -> CertRequestRow:
    with node.db.session() as s:
        row = store.request_of_case(s, number)
        if row is None:
            raise NotFound(N_("No certificate request for case {number}"), number=number)
        s.expunge(row)
    return row


@router.get("/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def cert_case_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    v = load_checked(request, node, number, t.locale)  # the case's scope: 404 outside it
    row = _request(node, number)
    paper = read_payload(forms.from_json_bytes(row.paper_json.encode()).payload) if row.paper_json else None
    return render_page(
        request,
        "cert/case.html",
        v=v,
        row=row,
        paper=paper,
        state_text=t(STATE_TEXTS.get(row.state, row.state)),
        route_text=t(ROUTE_TEXTS.get(row.routed_by, row.routed_by)),
        reason_text=Refusal(row.reason).translated(t.locale) if row.reason else None,
    )


def _paper_download(
    request: Request, node: CurrentNode, number: str, locale: str, form: str
) -> tuple[CertRequestRow, bytes]:
    load_checked(request, node, number, locale)
    row = _request(node, number)
    if row.paper_json is None:
        raise NotFound(N_("No certificate was issued for case {number}"), number=number)
    # The paper carries the applicant's name and ID number: every download is audited.
    with node.db.transaction() as s:
        record_audit(
            s,
            actor=actor_of(request),
            action="cert.paper.read",
            object_type="case",
            object_id=number,
            change={"paper": row.paper_number, "form": form},
            at=node.clock.now(),
        )
    return row, row.paper_json.encode()


@router.get("/{number}/paper.pdf", dependencies=[requires(CASE_READ)])
def paper_pdf(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    row, raw = _paper_download(request, node, number, t.locale, "pdf")
    lang = "en" if request.query_params.get("lang") == "en" else "zh_CN"
    pdf = render.render_pdf(forms.from_json_bytes(raw), locale=lang)
    return _download(pdf, "application/pdf", f"{row.paper_number}.pdf")


@router.get("/{number}/paper.json", dependencies=[requires(CASE_READ)])
def paper_json(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    row, raw = _paper_download(request, node, number, t.locale, "json")
    return _download(raw, "application/json", f"{row.paper_number}.json")


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
