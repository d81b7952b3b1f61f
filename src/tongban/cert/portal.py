"""The citizen's portal at the accepting node: their own cases (all matters), each with its state, time left
and history, the issued certificates to download (PDF in Chinese or English, rendered on download, or the
signed JSON form), and the online request of a certificate.

A citizen's own cases are those whose applicant is them. The case keeps the applicant as a keyed digest of
the ID number (``cases.window.applicant_ref``), and a citizen's account login is a keyed digest of the same
number with the same node secret (``access.credentials.citizen_login``): the first 40 hex digits of the one
are the other (a test holds them together). The check goes through the access model's ``own`` scope; a case
of anyone else answers 404 like a case that does not exist, and the attempt is audited. Every read of a case
(the page, a download) is written to the person's access records (reason ``own``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from tongban.access import service as access_service
from tongban.access.domain import Allow, Principal, PrincipalKind, Target, decide
from tongban.access.web import CurrentUser, record_view
from tongban.audit.service import record_audit
from tongban.cases import window
from tongban.cases.api import CASE_CREATE, CASE_READ
from tongban.cases.tables import CaseRow
from tongban.cases.window import ACTION_LABELS, CLOSE_LABELS, STATE_LABELS, Applicant, CaseView
from tongban.cert.domain import CertKind
from tongban.cert.service import accept_certificate
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
from tongban.web.app import CurrentNode, CurrentTranslator, redirect
from tongban.web.app import render as render_page

router = APIRouter()

ONLINE_OFFICE = "online"
NOT_A_CITIZEN = N_(
    "Citizens request certificates online for themselves; staff accept them at the window"
)  # the accepting office of cases a citizen starts on the portal


def owner_ref(node: NodeContext, user: Principal) -> str | None:
    """The applicant reference of the signed-in citizen (None for anyone else: they own no case)."""
    if user.kind is not PrincipalKind.CITIZEN or not user.id.isdigit():
        return None
    login = access_service.get_user(node.db, user_id=int(user.id)).login
    if not login.startswith("cid:") or len(login) < 44:
        return None
    return login[:44]


def _as_owner(node: NodeContext, user: Principal) -> Principal:
    # The own scope compares the principal's person with the case's applicant; a non-citizen matches none.
    return dataclasses.replace(user, person_ref=owner_ref(node, user) or "-")


def own_case(request: Request, node: NodeContext, user: Principal, number: str, locale: str) -> CaseView:
    """The citizen's own case, or 404 (the same as no such case); a refused attempt is audited."""
    citizen = _as_owner(node, user)
    try:
        v = window.view(node, number=number, locale=locale)
    except NotFound:
        v = None
    target = None if v is None else Target(person_ref=v.case.applicant, matter=v.case.matter)
    if v is None or target is None or not isinstance(decide(citizen, CASE_READ, target), Allow):
        with node.db.transaction() as s:
            record_audit(
                s,
                actor=user.id,
                action="cert.portal.denied",
                object_type="case",
                object_id=number[:64],
                change={"route": request.url.path[:200]},
                at=node.clock.now(),
            )
        raise NotFound(N_("Not found"))
    record_view(
        request,
        person_ref=v.case.applicant,
        person_division=v.division,
        reason="own",
        reason_ref=number,
        action=CASE_READ,
    )
    return v


def own_numbers(node: NodeContext, ref: str, limit: int = 200) -> list[str]:
    with node.db.session() as s:
        return list(
            s.scalars(
                select(CaseRow.number)
                .where(CaseRow.applicant == ref)
                .order_by(CaseRow.accepted_at.desc())
                .limit(limit)
            )
        )


def _common(t: Translator) -> dict[str, Any]:
    return {
        "state_labels": {s.value: label for s, label in STATE_LABELS.items()},
        "close_labels": {c.value: label for c, label in CLOSE_LABELS.items()},
        "action_labels": {a.value: label for a, label in ACTION_LABELS.items()},
        "left_text": lambda left: window.time_left_text(left, t),
        "urgency": window.urgency,
    }


@router.get("/my/cases", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def my_cases_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    ref = owner_ref(node, user)
    numbers = own_numbers(node, ref) if ref is not None else []
    views = [window.view(node, number=n, locale=t.locale) for n in numbers]

    certs: dict[str, dict[str, Any]] = {}
    for v in views:
        if v.case.matter == "CERT":
            with contextlib.suppress(NotFound):
                certs[v.case.number] = describe(node, request_of(node, v.case.number), t)
    return render_page(request, "cert/my_cases.html", views=views, certs=certs, **_common(t))


@router.get("/my/cases/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def my_case_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    v = own_case(request, node, user, number, t.locale)

    cert = None
    if v.case.matter == "CERT":
        try:
            cert = describe(node, request_of(node, number), t)
        except NotFound:
            cert = None
    return render_page(request, "cert/my_case.html", v=v, c=v.case, cert=cert, **_common(t))


def _own_paper(
    request: Request, node: NodeContext, user: Principal, number: str, locale: str, form: str
) -> Any:

    own_case(request, node, user, number, locale)
    row = request_of(node, number)
    return row, audited_paper(node, row, actor=user.id, form=form)


@router.get("/my/cases/{number}/paper.pdf", dependencies=[requires(CASE_READ)])
def my_paper_pdf(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:

    row, raw = _own_paper(request, node, user, number, t.locale, "pdf")
    return pdf_response(request, node, row, raw)


@router.get("/my/cases/{number}/paper.json", dependencies=[requires(CASE_READ)])
def my_paper_json(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:

    row, raw = _own_paper(request, node, user, number, t.locale, "json")
    return download(raw, "application/json", f"{row.paper_number}.json")


# ------------------------------------------------------------------------------------------ online request
def _new_form(request: Request, status_code: int = 200, **ctx: Any) -> HTMLResponse:

    return render_page(
        request,
        "cert/my_new.html",
        status_code=status_code,
        kinds=KIND_TEXTS,
        items=ITEMS,
        form=ctx.pop("form", {}),
        **ctx,
    )


@router.get("/my/cert/new", response_class=HTMLResponse, dependencies=[requires(CASE_CREATE)])
def my_new_cert_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    if owner_ref(node, user) is None:
        return _new_form(request, error=t(NOT_A_CITIZEN))
    return _new_form(request)


@router.post("/my/cert/new", dependencies=[requires(CASE_CREATE)])
async def my_new_cert_form(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    """The citizen's own online request: their ID number must be the one they signed in with; their consent
    is recorded with channel ``online``; the case follows procedure ``online``."""

    ref = owner_ref(node, user)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values.pop("csrf_token", None)
    try:
        kind: CertKind = parse_kind(values.get("kind", ""))
        applicant = Applicant.from_form(values, locale=t.locale, today=node.clock.now().date())
        if ref is None:
            raise InvalidInput(NOT_A_CITIZEN)
        if window.applicant_ref(node, applicant.id_number) != ref:
            raise InvalidInput(N_("Give your own ID number: the one you signed in with"))
        if values.get("consent") != "yes":
            raise InvalidInput(N_("Agree that your hukou locality reads your record for this certificate"))
        case = accept_certificate(
            node,
            actor=window.Actor(id=user.id, office=ONLINE_OFFICE, division=node.code),
            applicant=applicant,
            kind=kind,
            purpose=values.get("purpose", ""),
            facts=facts_of(values, kind),
            channel="online",
        )
    except (TongbanError, ValueError) as exc:
        if isinstance(exc, TongbanError):
            message, status = t(exc.message, **{k: str(v) for k, v in exc.params.items()}), int(exc.status)
        else:
            message, status = t(N_("Check the relative's ID number")), 422
        return _new_form(request, status_code=status, error=message, form=values)
    return redirect(f"/my/cases/{case.number}?done=accepted")


def nav_entries(request: Request, t: Translator) -> list[dict[str, str]]:
    user = getattr(request.state, "user", None)
    if not isinstance(user, Principal) or user.kind is not PrincipalKind.CITIZEN:
        return []
    return [
        {"href": "/my/cases", "label": t(N_("My cases"))},
        {"href": "/my/cert/new", "label": t(N_("Request a certificate online"))},
    ]
