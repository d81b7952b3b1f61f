"""Clerk pages: the queue of cases and tasks with time left, the acceptance form, the case page with its
history, decision explanation and actions, the window's printable documents, and notifications.

Forms post with the CSRF token the access capability puts in ``csrf_token``; after a change the page
redirects back (303), and a refused change shows the page again with the reason (in the viewer's language)
and the HTTP status of the problem (409 for an illegal transition).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from tongban.access import service as access_service
from tongban.access.domain import Allow, Principal, Target, decide
from tongban.access.web import CurrentUser, record_view
from tongban.cases import documents, evidence, materials, notify, service, window
from tongban.cases.api import (
    CASE_CREATE,
    CASE_DECIDE,
    CASE_READ,
    CASE_UPDATE,
    CONSENT_RECORD,
    EVIDENCE_REQUEST,
    MATERIAL_ADD,
    NOTIFICATION_READ,
    actor_of,
    load_checked,
    queue_filter,
)
from tongban.cases.calendar import DayUnit, local_date
from tongban.cases.catalog import MaterialSource
from tongban.cases.domain import CaseAction, CaseState, TimeLeft
from tongban.cases.window import ACTION_LABELS, CLOSE_LABELS, STATE_LABELS, Applicant, CaseView
from tongban.core.errors import Conflict, InvalidInput, TongbanError
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.routing import RowId, requires
from tongban.web.app import CurrentNode, CurrentTranslator, get_node, redirect, render

router = APIRouter(prefix="/cases")

TASK_DECIDE = "cases.task.decide"
URGENCY_BADGE = {"overdue": "bad", "near": "warn", "ok": "ok", "none": ""}
BUTTON_LABELS = {
    CaseAction.START.value: N_("Start handling"),
    CaseAction.RECEIVE_MATERIALS.value: N_("Materials received: resume"),
    CaseAction.WITHDRAW.value: N_("Withdraw"),
}


def may(user: Principal, action: str, v: CaseView | None = None) -> bool:
    target = None
    if v is not None:
        target = Target(
            division_code=v.division,
            office_code=v.case.accepting_office,
            person_ref=v.case.applicant,
            matter=v.case.matter,
        )
    return isinstance(decide(user, action, target), Allow)


def nav(node: NodeContext, user: Principal, t: Translator) -> list[dict[str, str]]:
    items = [{"href": "/cases/queue", "label": t(N_("Case queue"))}]
    if may(user, CASE_CREATE):
        items.append({"href": "/cases/new", "label": t(N_("Accept a case"))})
    unread = notify.unread_count(node, user_id=user.id)
    label = t(N_("Notifications"))
    items.append({"href": "/cases/notifications", "label": f"{label} ({unread})" if unread else label})
    return items


def nav_entries(request: Request, t: Translator) -> list[dict[str, str]]:
    """The layout's case links, for signed-in staff of the node the request addresses."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, Principal) or not user.is_staff:
        return []
    try:
        node = get_node(request)
    except TongbanError:
        return []
    return nav(node, user, t)


def _common(node: NodeContext, user: Principal, t: Translator) -> dict[str, Any]:
    return {
        "state_labels": STATE_LABELS,
        "action_labels": {a.value: label for a, label in ACTION_LABELS.items()},
        "close_labels": CLOSE_LABELS,
        "badge": URGENCY_BADGE,
        "button_labels": BUTTON_LABELS,
        "urgency": window.urgency,
        "left_text": lambda left: window.time_left_text(left, t),
    }


def _error(t: Translator, exc: TongbanError) -> str:
    return t(exc.message, **{k: str(v) for k, v in exc.params.items()})


# ------------------------------------------------------------------------------------------ queue
@router.get("/queue", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def queue_page(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    state: str = "",
    due: str = "",
    matter: str = "",
) -> HTMLResponse:
    chosen_state = CaseState(state) if state in {s.value for s in CaseState} else None
    chosen_due = due if due in ("overdue", "near", "ok") else None
    filters = queue_filter(
        request,
        state=chosen_state,
        due=chosen_due,
        matter=matter or None,
        include_closed=chosen_state is CaseState.CLOSED,
    )
    rows = window.queue(node, filters=filters, locale=t.locale)
    # Tasks are the node's part of cases owned elsewhere: shown to those who act on them.
    show_tasks = may(user, TASK_DECIDE)
    tasks = service.list_tasks(node) if show_tasks else []
    calendar = service.cases_setup(node).calendar
    now = node.clock.now()
    task_rows = [(task, task.live_deadline(), _task_left(task, calendar, now)) for task in tasks]
    return render(
        request,
        "cases/queue.html",
        rows=rows,
        tasks=task_rows,
        show_tasks=show_tasks,
        matters=list(service.cases_setup(node).catalog),
        states=list(CaseState),
        chosen={"state": state, "due": due, "matter": matter},
        **_common(node, user, t),
    )


def _task_left(task: Any, calendar: Any, now: Any) -> TimeLeft | None:
    if task.is_closed or task.due is None:
        return None
    today = local_date(now)
    if task.time_limit.unit is DayUnit.CALENDAR_DAYS:
        return TimeLeft((task.due - today).days, task.time_limit.unit)
    return TimeLeft(calendar.working_days_between(today, task.due), task.time_limit.unit)


# ------------------------------------------------------------------------------------------ acceptance
def _new_form(
    request: Request, node: NodeContext, user: Principal, t: Translator, **ctx: Any
) -> HTMLResponse:
    matters = list(service.cases_setup(node).catalog)
    code = (
        ctx.pop("matter_code", None)
        or request.query_params.get("matter")
        or (matters[0].code if matters else "")
    )
    current = next((m for m in matters if m.code == code), matters[0] if matters else None)
    status = ctx.pop("status_code", 200)
    return render(
        request,
        "cases/new.html",
        status_code=status,
        matters=matters,
        matter=current,
        asked=current.asked_materials() if current else [],
        looked_up=current.looked_up_materials() if current else [],
        form=ctx.pop("form", {}),
        **ctx,
        **_common(node, user, t),
    )


@router.get("/new", response_class=HTMLResponse, dependencies=[requires(CASE_CREATE)])
def new_case_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    return _new_form(request, node, user, t)


@router.post("/new", dependencies=[requires(CASE_CREATE)])
async def accept_case_form(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    handed = [str(v) for v in form.getlist("handed_in")]
    matter_code = values.get("matter", "")
    try:
        applicant = Applicant.from_form(
            values, locale=values.get("applicant_locale") or t.locale, today=node.clock.now().date()
        )
        matter = service.cases_setup(node).catalog.get(matter_code)
        case = window.accept(node, actor=actor_of(user), matter=matter_code, applicant=applicant)
        missing = [m.key for m in matter.asked_materials() if m.required and m.key not in handed]
        if missing:
            window.act(
                node,
                actor=actor_of(user),
                number=case.number,
                action=CaseAction.REQUEST_MATERIALS,
                missing=missing,
            )
    except TongbanError as exc:
        values.pop("csrf_token", None)
        return _new_form(
            request,
            node,
            user,
            t,
            matter_code=matter_code,
            error=_error(t, exc),
            form=values,
            status_code=exc_status(exc),
        )
    return redirect(f"/cases/{case.number}?done=accepted")


def exc_status(exc: TongbanError) -> int:
    return int(exc.status)


# ------------------------------------------------------------------------------------------ notifications
@router.get("/notifications", response_class=HTMLResponse, dependencies=[requires(NOTIFICATION_READ)])
def notifications_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    items = notify.inbox(node, user_id=user.id, locale=t.locale)
    return render(request, "cases/notifications.html", items=items, **_common(node, user, t))


@router.post("/notifications/{notification_id}/read", dependencies=[requires(NOTIFICATION_READ)])
def notification_read_form(notification_id: RowId, node: CurrentNode, user: CurrentUser) -> Response:
    notify.mark_read(node, user_id=user.id, notification_id=notification_id)
    return redirect("/cases/notifications")


# ------------------------------------------------------------------------------------------ the case
def _case_page(
    request: Request, node: NodeContext, user: Principal, t: Translator, number: str, **ctx: Any
) -> HTMLResponse:
    v = load_checked(request, node, number, t.locale, action=CASE_READ)
    matter = service.cases_setup(node).catalog.get(v.case.matter)
    staff_ids = {int(e.actor) for e in v.case.events if e.actor.isdigit()}
    names = {str(k): row[0] for k, row in access_service.user_rows_for_names(node.db, staff_ids).items()}
    allowed = set(v.case.allowed_actions())
    status = ctx.pop("status_code", 200)
    looked_up_records = _evidence(request, node, t, number, matter)
    return render(
        request,
        "cases/case.html",
        status_code=status,
        v=v,
        c=v.case,
        matter=matter,
        asked=[m for m in matter.materials_for(v.case.procedure) if m.source is MaterialSource.APPLICANT],
        looked_up=[m for m in matter.materials_for(v.case.procedure) if m.source is MaterialSource.REGISTRY],
        uploads=materials.list_materials(node, case_number=number),
        evidence=looked_up_records,
        actor_names=names,
        window_actions=[
            a for a in window.WINDOW_ACTIONS if a in allowed and a is not CaseAction.REQUEST_MATERIALS
        ],
        can_request=CaseAction.REQUEST_MATERIALS in allowed and may(user, CASE_UPDATE, v),
        can_update=may(user, CASE_UPDATE, v),
        can_decide=may(user, CASE_DECIDE, v) and bool(allowed & set(window.DECIDING_ACTIONS)),
        can_upload=may(user, MATERIAL_ADD, v) and not v.case.is_closed,
        can_request_evidence=may(user, EVIDENCE_REQUEST, v)
        and may(user, CONSENT_RECORD, v)
        and not v.case.is_closed,
        done=request.query_params.get("done"),
        **ctx,
        **_common(node, user, t),
    )


def _evidence(
    request: Request, node: NodeContext, t: Translator, number: str, matter: Any
) -> list[dict[str, Any]]:
    """The case's evidence requests for the page; showing an extract is a read of the person's record."""
    names = {m.key: m.name.get(t.locale) for m in matter.materials}
    shown = []
    for row, record in evidence.requests_of(node, case_number=number):
        item: dict[str, Any] = {
            "id": row.id,
            "material": names.get(row.material, row.material),
            "target": row.target_node,
            "state": row.state,
            "state_label": t(evidence.STATE_LABELS.get(row.state, row.state)),
            "reason": None,
            "record": None,
            "answered_at": row.answered_at,
        }
        if row.reason is not None:
            try:
                item["reason"] = evidence.EvidenceRefusal(row.reason).translated(t.locale)
            except ValueError:
                item["reason"] = row.reason
        if record is not None:
            item["record"] = {
                **record,
                "status_label": t(
                    evidence.STATUS_LABELS.get(str(record.get("status")), str(record.get("status")))
                ),
                "relation_label": t(evidence.RELATION_LABELS[record["relation"]])
                if record.get("relation") in evidence.RELATION_LABELS
                else record.get("relation"),
            }
            if row.subject_ref is not None:
                record_view(
                    request,
                    person_ref=row.subject_ref,
                    person_division=record.get("division_code"),
                    reason="case",
                    reason_ref=number,
                )
        shown.append(item)
    return shown


@router.get("/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def case_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    return _case_page(request, node, user, t, number)


@router.post("/{number}/act", dependencies=[requires(CASE_UPDATE)])
async def act_form(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    load_checked(request, node, number, t.locale)
    form = await request.form()
    raw = str(form.get("action", ""))
    try:
        action = CaseAction(raw)
        if action not in window.WINDOW_ACTIONS:
            raise InvalidInput(N_("Unknown action {action}"), action=raw)
        window.act(
            node,
            actor=actor_of(user),
            number=number,
            action=action,
            reason=str(form.get("reason", "")) or None,
            missing=[str(m) for m in form.getlist("missing")],
        )
    except ValueError:
        return _case_page(
            request,
            node,
            user,
            t,
            number,
            error=t(N_("Unknown action {action}"), action=raw),
            status_code=422,
        )
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=exc_status(exc))
    return redirect(f"/cases/{number}?done={action.value}")


@router.post("/{number}/decide", dependencies=[requires(CASE_DECIDE)])
async def decide_form(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    load_checked(request, node, number, t.locale)
    form = await request.form()
    raw = str(form.get("conclude", ""))
    try:
        if raw not in ("complete", "refuse"):
            raise InvalidInput(N_("Unknown action {action}"), action=raw)
        window.act(
            node,
            actor=actor_of(user),
            number=number,
            action=CaseAction(raw),
            reason=str(form.get("reason", "")) or None,
        )
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=exc_status(exc))
    return redirect(f"/cases/{number}?done={raw}")


@router.post("/{number}/materials", dependencies=[requires(MATERIAL_ADD)])
def upload_form(
    number: str,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    material: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> Response:
    load_checked(request, node, number, t.locale)
    try:
        materials.store_upload(
            node,
            case_number=number,
            material=material,
            stream=file.file,
            actor=user.id,
            declared_size=file.size,
        )
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=exc_status(exc))
    return redirect(f"/cases/{number}?done=uploaded")


@router.post("/{number}/evidence", dependencies=[requires(EVIDENCE_REQUEST)])
def evidence_form(
    number: str,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    material: Annotated[str, Form(max_length=64)],
    target_node: Annotated[str, Form(max_length=6)],
    id_number: Annotated[str, Form(max_length=18)],
    consent: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """The clerk records the applicant's consent (the box ticked) and asks another node's registry."""
    v = load_checked(request, node, number, t.locale)
    try:
        if consent != "yes" or not may(user, CONSENT_RECORD, v):
            raise Conflict(N_("An evidence request needs the applicant's recorded consent"))
        consent_id = materials.record_consent(
            node, case_number=number, purpose=f"look up {material}"[:64], channel="window", actor=user.id
        )
        materials.request_evidence(
            node,
            case_number=number,
            consent_id=consent_id,
            target_node=target_node.strip(),
            material=material,
            actor=user.id,
            id_number=id_number.strip().upper(),
        )
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=exc_status(exc))
    return redirect(f"/cases/{number}?done=evidence")


@router.get("/{number}/slip", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def slip_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    load_checked(request, node, number, t.locale)
    data = documents.slip_data(node, number=number, locale=t.locale)
    return render(request, "cases/slip.html", d=data, **_common(node, user, t))


@router.get("/{number}/notice", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def notice_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    load_checked(request, node, number, t.locale)
    data = documents.notice_data(node, number=number, locale=t.locale)
    return render(request, "cases/notice.html", d=data, **_common(node, user, t))
