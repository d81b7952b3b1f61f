"""CERT pages.

At the accepting node: the window clerk's acceptance form (``/cert/new``: kind, purpose, requested facts) and
view of a CERT case (``/cert/{number}``: routing, where the request went, what came back, the issued paper as
PDF to print or as its signed JSON form). At the hukou node: the reviewer's queue of requests waiting for a
decision (``/cert/review``), where the catalog does not allow automatic issuing. The citizen's portal is in
``portal`` (its routes are served from here).

Forms post with the CSRF token the access capability puts in ``csrf_token``; a refused form shows the page
again with the reason in the viewer's language and the problem's HTTP status.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from tongban.access.domain import Allow, Principal, Scope, Target, decide, division_prefix
from tongban.access.web import CurrentUser, ensure_in_scope, scope_filter
from tongban.cases import service as cases_service
from tongban.cases import store as cases_store
from tongban.cases import window
from tongban.cases.api import CASE_CREATE, CASE_READ, actor_of, load_checked
from tongban.cases.calendar import DayUnit, local_date
from tongban.cases.domain import TimeLeft
from tongban.cases.window import Applicant
from tongban.cert import portal, store
from tongban.cert.domain import REFUSAL_TEXTS, REVIEW_REFUSALS
from tongban.cert.service import Reviewer, accept_certificate, decide_review
from tongban.cert.tables import CertRequestRow, CertReviewRow
from tongban.cert.views import (
    ITEMS,
    KIND_TEXTS,
    audited_paper,
    describe,
    download,
    facts_of,
    parse_kind,
    pdf_response,
    request_of,
)
from tongban.core.errors import InvalidInput, NotFound, TongbanError
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.routing import requires
from tongban.papers.api import actor_of as paper_actor_of
from tongban.web.app import CurrentNode, CurrentTranslator, redirect
from tongban.web.app import render as render_page

router = APIRouter()
router.include_router(portal.router)

TASK_DECIDE = "cases.task.decide"


def _error(t: Translator, exc: TongbanError) -> str:
    return t(exc.message, **{k: str(v) for k, v in exc.params.items()})


# ------------------------------------------------------------------------------------------ acceptance at A
def _new_form(request: Request, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    return render_page(
        request,
        "cert/new.html",
        status_code=status_code,
        kinds=KIND_TEXTS,
        items=ITEMS,
        form=ctx.pop("form", {}),
        **ctx,
    )


@router.get("/cert/new", response_class=HTMLResponse, dependencies=[requires(CASE_CREATE)])
def new_cert_page(request: Request) -> HTMLResponse:
    return _new_form(request)


@router.post("/cert/new", dependencies=[requires(CASE_CREATE)])
async def accept_cert_form(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values.pop("csrf_token", None)
    try:
        kind = parse_kind(values.get("kind", ""))
        applicant = Applicant.from_form(
            values, locale=values.get("applicant_locale") or t.locale, today=node.clock.now().date()
        )
        case = accept_certificate(
            node,
            actor=actor_of(user),
            applicant=applicant,
            kind=kind,
            purpose=values.get("purpose", ""),
            facts=facts_of(values, kind),
        )
    except (TongbanError, ValueError) as exc:
        message = _error(t, exc) if isinstance(exc, TongbanError) else t(N_("Check the relative's ID number"))
        status = int(exc.status) if isinstance(exc, TongbanError) else 422
        return _new_form(request, status_code=status, error=message, form=values)
    return redirect(f"/cert/{case.number}?done=accepted")


# ------------------------------------------------------------------------------------------ review at B
def _review_left(row: CertReviewRow, node: NodeContext, task: Any) -> TimeLeft | None:
    if task is None or task.is_closed or task.due is None:
        return None
    today = local_date(node.clock.now())
    if task.time_limit.unit is DayUnit.CALENDAR_DAYS:
        return TimeLeft((task.due - today).days, task.time_limit.unit)
    calendar = cases_service.cases_setup(node).calendar
    return TimeLeft(calendar.working_days_between(today, task.due), task.time_limit.unit)


def _in_jurisdiction(user: Principal, row: CertReviewRow) -> bool:
    return isinstance(
        decide(user, TASK_DECIDE, Target(division_code=row.division_code, matter="CERT")), Allow
    )


def _review_page(
    request: Request, node: NodeContext, user: Principal, t: Translator, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    scope, prefix = scope_filter(request, TASK_DECIDE)
    if scope in (Scope.OWN, Scope.OFFICE):  # the request's place is the person's division
        prefix = division_prefix(user, Scope.COUNTY)
    with node.db.session() as s:
        q = select(CertReviewRow).where(CertReviewRow.state == store.OPEN).order_by(CertReviewRow.received_at)
        if prefix:
            q = q.where(CertReviewRow.division_code.startswith(prefix))
        rows = [r for r in s.scalars(q.limit(200)) if _in_jurisdiction(user, r)]
        tasks = {r.task_ref: cases_store.find_task(s, r.task_ref) for r in rows}
        for r in rows:
            s.expunge(r)
    items = []
    for r in rows:
        loaded = tasks.get(r.task_ref)
        task = loaded.obj if loaded is not None else None
        left = _review_left(r, node, task)
        items.append(
            {
                "row": r,
                "kind_text": t(KIND_TEXTS.get(r.kind, r.kind)),
                "deadline": task.due if task is not None else None,
                "left_text": window.time_left_text(left, t),
                "urgency": window.urgency(left),
            }
        )
    return render_page(
        request,
        "cert/review.html",
        status_code=status_code,
        items=items,
        reasons=[(r.value, t(REFUSAL_TEXTS[r])) for r in REVIEW_REFUSALS],
        **ctx,
    )


@router.get("/cert/review", response_class=HTMLResponse, dependencies=[requires(TASK_DECIDE)])
def review_page(request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator) -> HTMLResponse:
    done = request.query_params.get("done")
    return _review_page(request, node, user, t, done=done if done in ("issued", "refused") else None)


@router.post("/cert/review/{review_id}", dependencies=[requires(TASK_DECIDE)])
async def review_decide_form(
    review_id: int, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    form = await request.form()
    decision = str(form.get("decision", ""))
    reason = str(form.get("reason", "")) or None
    with node.db.session() as s:
        row = s.get(CertReviewRow, review_id)
        if row is None:
            raise NotFound(N_("Not found"))
        s.expunge(row)
    ensure_in_scope(request, row.division_code, matter="CERT")  # 404 outside the reviewer's jurisdiction
    try:
        if decision not in ("issue", "refuse"):
            raise InvalidInput(N_("Choose to issue or to refuse"))
        if reason is not None and reason not in {r.value for r in REVIEW_REFUSALS}:
            raise InvalidInput(N_("Choose a reason from the list"))
        decide_review(
            node,
            reviewer=Reviewer(id=user.id, division=user.division_code, office=user.office_code),
            task_ref=row.task_ref,
            issue=decision == "issue",
            reason=None if decision == "issue" else reason,
        )
    except TongbanError as exc:
        return _review_page(request, node, user, t, status_code=int(exc.status), error=_error(t, exc))
    return redirect("/cert/review?done=" + ("issued" if decision == "issue" else "refused"))


# ------------------------------------------------------------------------------------------ the clerk's case at A
@router.get("/cert/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def cert_case_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    v = load_checked(request, node, number, t.locale)  # the case's scope: 404 outside it
    row = request_of(node, number)
    return render_page(request, "cert/case.html", v=v, **describe(node, row, t))


def _paper_download(
    request: Request, node: NodeContext, number: str, locale: str, form: str
) -> tuple[CertRequestRow, bytes]:
    load_checked(request, node, number, locale)
    row = request_of(node, number)
    return row, audited_paper(node, row, actor=paper_actor_of(request), form=form)


@router.get("/cert/{number}/paper.pdf", dependencies=[requires(CASE_READ)])
def paper_pdf(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    row, raw = _paper_download(request, node, number, t.locale, "pdf")
    return pdf_response(request, node, row, raw)


@router.get("/cert/{number}/paper.json", dependencies=[requires(CASE_READ)])
def paper_json(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    row, raw = _paper_download(request, node, number, t.locale, "json")
    return download(raw, "application/json", f"{row.paper_number}.json")


def nav_entries(request: Request, t: Translator) -> list[dict[str, str]]:
    """Links for the signed-in user of the node the request addresses: the CERT acceptance form (clerks), the
    review queue (reviewers), the citizen's own cases (citizens)."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, Principal):
        return []
    if not user.is_staff:
        return portal.nav_entries(request, t)
    items = []
    if isinstance(decide(user, CASE_CREATE), Allow):
        items.append({"href": "/cert/new", "label": t(N_("Request a certificate"))})
    if isinstance(decide(user, TASK_DECIDE), Allow):
        items.append({"href": "/cert/review", "label": t(N_("Certificates to review"))})
    return items
