"""Migration pages over the saga's use cases (``service``, ``origin``).

- the destination's staff (``/migrations``): the node's migrations with their states and time left, the
  acceptance form (matter, applicant, the household at the destination, materials checklist, facts of the
  local policy, the signed commitment), the case page (materials, the policy decision as a sentence, time
  left, history, the papers) with the actions the state allows: approve / refuse / abandon (``decide``),
  withdraw / ask for a reissue / register the move-in (``act``);
- the origin's staff (``/migrations/origin/tasks``): the queue of incoming move-out tasks with their
  deadlines, a task page with what the permit says and the person's status here (the read is logged in the
  person's access records), move out or refuse with a reason;
- the citizen (``/my/migrations``): their own migration cases only (the access model's ``own`` scope), the
  timeline, and the papers (move-in permit, migration certificate) as PDF (rendered on download) or JSON.

Forms post with the CSRF token; a refused change shows the page again with the translated reason and the
problem's HTTP status (409 for a step the saga's state does not allow).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from tongban.access import service as access_service
from tongban.access.domain import Allow, Principal, PrincipalKind, Target, decide
from tongban.access.web import CurrentUser, record_view
from tongban.audit.service import record_audit
from tongban.cases import materials, window
from tongban.cases import store as cases_store
from tongban.cases.api import (
    CASE_CREATE,
    CASE_DECIDE,
    CASE_READ,
    CASE_UPDATE,
    actor_of,
    load_checked,
    material_download,
)
from tongban.cases.calendar import DayUnit, local_date
from tongban.cases.catalog import MaterialSource
from tongban.cases.domain import TimeLeft
from tongban.cases.rules import FACTS, FactType
from tongban.cases.service import cases_setup
from tongban.cases.window import ACTION_LABELS, CLOSE_LABELS, STATE_LABELS, Applicant, CaseView
from tongban.core.errors import InvalidInput, NotFound, TongbanError, TooLarge
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.routing import RowId, requires
from tongban.migration import expiry, origin, samecity, store
from tongban.migration import service as mig
from tongban.migration.api import load_for_update
from tongban.migration.common import ONLINE_OFFICE, update_action
from tongban.migration.domain import MATTERS, DestState, OriginState
from tongban.migration.reach import checked_task, task_division, task_in_scope
from tongban.papers import forms
from tongban.papers.domain import read_payload
from tongban.papers.render import render_pdf
from tongban.papers.service import get_paper
from tongban.registry.queries import find_household
from tongban.web.app import CurrentNode, CurrentTranslator, get_node, redirect, render

router = APIRouter()

TASK_DECIDE = "cases.task.decide"
URGENCY_BADGE = {"overdue": "bad", "near": "warn", "ok": "ok", "none": ""}

DEST_STATE_LABELS = {
    DestState.ACCEPTED.value: N_("accepted, awaiting approval"),
    DestState.PERMIT_SENT.value: N_("move-in permit sent to the origin"),
    DestState.CERTIFICATE_RECEIVED.value: N_("moved out at the origin: awaiting the move-in"),
    DestState.SETTLED.value: N_("moved in"),
    DestState.REFUSED.value: N_("refused"),
    DestState.WITHDRAWN.value: N_("withdrawn"),
    DestState.ABANDONED.value: N_("abandoned"),
}
ORIGIN_STATE_LABELS = {
    OriginState.RECEIVED.value: N_("permit received: awaiting the move-out"),
    OriginState.MOVED_OUT.value: N_("moved out: in transit"),
    OriginState.SETTLED.value: N_("moved in at the destination"),
    OriginState.RESTORED.value: N_("registration restored"),
    OriginState.REFUSED.value: N_("refused"),
    OriginState.CANCELLED.value: N_("cancelled"),
}
REGISTRATION_LABELS = {
    "active": N_("registered here"),
    "in_transit": N_("in transit (moved out, not yet moved in)"),
    "moved_out": N_("moved out"),
    "cancelled": N_("registration cancelled"),
}
RELATIONS = {
    "head": N_("head of household"),
    "spouse": N_("spouse"),
    "child": N_("child"),
    "parent": N_("parent"),
    "other_relative": N_("other relative"),
}
# The origin clerk's reasons of a refusal (the code and the clerk's words travel in the refusal's note).
REFUSAL_CODES = {
    "record-mismatch": N_("the permit does not match the register here"),
    "pending-matter": N_("a pending matter here prevents the move-out"),
    "other": N_("another reason (see the note)"),
}
PAPER_KINDS = {"permit": N_("Move-in permit"), "certificate": N_("Migration certificate")}
ALERT_LABELS = {"ending": N_("certificate ends soon"), "expired": N_("certificate expired")}
# The facts each matter's local policy asks about (the form's fields; the policy decides with them).
MATTER_FACTS: dict[str, tuple[str, ...]] = {
    "MIG-SPOUSE": ("marriage_duration", "sponsor_registration"),
    "MIG-PARENT": ("parent_age", "sponsor_registration"),
}
FACT_FIELDS = sorted({f for fs in MATTER_FACTS.values() for f in fs})
FACT_HINTS = {FactType.SPAN.value: N_("e.g. 3y or 1y6m"), FactType.INTEGER.value: N_("a whole number")}
DECIDE_ACTIONS = ("approve", "refuse", "abandon")
UPDATE_ACTIONS = ("withdraw", "reissue", "move_in")
DONE_TEXTS = {
    "accepted": N_("The migration is accepted."),
    "approve": N_("Approved: the move-in permit is on its way to the origin."),
    "refuse": N_("The migration is refused."),
    "abandon": N_("The migration is abandoned; the origin restores the registration."),
    "withdraw": N_("The migration is withdrawn."),
    "reissue": N_("A new migration certificate was asked of the origin."),
    "move_in": N_("The move-in is registered."),
    "applied": N_("Your application is accepted: the destination checks it and decides."),
    "move_out": N_("Moved out: the migration certificate is on its way to the destination."),
    "refuse_move_out": N_("The move-out is refused; the destination is told."),
}
STEP_LABELS = {
    "migration.case.accept": N_("Accepted at the destination"),
    "migration.case.approve": N_("Approved: the move-in permit was sent to the origin"),
    "migration.certificate.receive": N_("Moved out at the origin: the migration certificate arrived"),
    "migration.certificate.reissue_request": N_("A new migration certificate was asked of the origin"),
    "migration.case.move_in": N_("Registered at the destination"),
    "migration.case.refuse": N_("Refused at the destination"),
    "migration.case.origin_refused": N_("Refused by the origin"),
    "migration.case.withdraw": N_("Withdrawn"),
    "migration.case.abandon": N_("Abandoned by the destination"),
}
_NUMBER = re.compile(r"^[0-9]{6}-[0-9]{8}-[0-9]{6}$")


def _may(user: Principal, action: str, v: CaseView | None = None) -> bool:
    target = None
    if v is not None:
        target = Target(
            division_code=v.division,
            office_code=v.case.accepting_office,
            person_ref=v.case.applicant,
            matter=v.case.matter,
        )
    return isinstance(decide(user, action, target), Allow)


def _error(t: Translator, exc: TongbanError) -> str:
    return t(exc.message, **{k: str(v) for k, v in exc.params.items()})


def _common(t: Translator) -> dict[str, Any]:
    return {
        "dest_labels": DEST_STATE_LABELS,
        "origin_labels": ORIGIN_STATE_LABELS,
        "state_labels": STATE_LABELS,
        "close_labels": CLOSE_LABELS,
        "action_labels": {a.value: label for a, label in ACTION_LABELS.items()},
        "relations": RELATIONS,
        "refusal_codes": REFUSAL_CODES,
        "paper_kinds": PAPER_KINDS,
        "alert_labels": ALERT_LABELS,
        "done_texts": DONE_TEXTS,
        "step_labels": STEP_LABELS,
        "badge": URGENCY_BADGE,
        "urgency": window.urgency,
        "left_text": lambda left: window.time_left_text(left, t),
    }


def nav_entries(request: Request, t: Translator) -> list[dict[str, str]]:
    """The layout's migration links: the destination's list and the origin's queue for staff who act on
    them; a citizen's own migrations."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, Principal):
        return []
    if user.kind is PrincipalKind.CITIZEN:
        return [
            {"href": "/my/migrations", "label": t(N_("My migrations"))},
            {"href": "/my/migrations/new", "label": t(N_("Apply for a migration online"))},
        ]
    if not user.is_staff:
        return []
    try:
        get_node(request)
    except TongbanError:
        return []
    items = []
    if _may(user, CASE_READ):
        items.append({"href": "/migrations", "label": t(N_("Migrations"))})
    if _may(user, TASK_DECIDE):
        items.append({"href": "/migrations/origin/tasks", "label": t(N_("Move-out tasks"))})
    return items


# ------------------------------------------------------------------------------------------ the origin
def _task_left(node: NodeContext, task_ref: str | None) -> TimeLeft | None:
    if task_ref is None:
        return None
    with node.db.session() as s:
        found = cases_store.find_task(s, task_ref)
    if found is None or found.obj.is_closed or found.obj.due is None:
        return None
    task, due = found.obj, found.obj.due
    today = local_date(node.clock.now())
    if task.time_limit.unit is DayUnit.CALENDAR_DAYS:
        return TimeLeft((due - today).days, task.time_limit.unit)
    return TimeLeft(cases_setup(node).calendar.working_days_between(today, due), task.time_limit.unit)


@router.get("/migrations/origin/tasks", response_class=HTMLResponse, dependencies=[requires(TASK_DECIDE)])
def origin_queue_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    show_all = request.query_params.get("all") == "1"
    rows = []
    for v in origin.list_tasks(node, include_closed=show_all):
        division, _row, _ = task_division(node, v.case_number)
        if not task_in_scope(user, division):
            continue
        rows.append((v, _task_left(node, v.task_ref)))
    rows.sort(key=lambda r: (r[1] is None, r[1].days if r[1] is not None else 0))
    return render(
        request,
        "migration/origin_queue.html",
        rows=rows,
        show_all=show_all,
        matter_names=_matter_names(node, t),
        **_common(t),
    )


def _matter_names(node: NodeContext, t: Translator) -> dict[str, str]:
    return {m.code: m.name.get(t.locale) for m in cases_setup(node).catalog if m.code in MATTERS}


def _task_page(
    request: Request, node: NodeContext, user: Principal, t: Translator, number: str, **ctx: Any
) -> HTMLResponse:
    _division, row, (person, state) = checked_task(request, node, user, number)
    v = origin.get_task(node, case_number=number)
    permit = None
    if row.permit_json:
        permit = read_payload(forms.from_json_bytes(row.permit_json.encode()).payload)
    if person is not None and state is not None:
        record_view(
            request,
            person_ref=str(person.id),
            person_division=state.division_code,
            reason="case",
            reason_ref=f"{row.case_node}/{number}"[:64],
            action=TASK_DECIDE,
        )
    status = ctx.pop("status_code", 200)
    return render(
        request,
        "migration/origin_task.html",
        status_code=status,
        v=v,
        row=row,
        permit=permit,
        person=person,
        reg_state=state,
        reg_label=REGISTRATION_LABELS.get(state.status, state.status) if state is not None else None,
        left=_task_left(node, v.task_ref),
        matter_names=_matter_names(node, t),
        done=request.query_params.get("done"),
        **ctx,
        **_common(t),
    )


@router.get(
    "/migrations/origin/tasks/{number}", response_class=HTMLResponse, dependencies=[requires(TASK_DECIDE)]
)
def origin_task_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    return _task_page(request, node, user, t, number)


@router.post("/migrations/origin/tasks/{number}", dependencies=[requires(TASK_DECIDE)])
async def origin_task_form(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    checked_task(request, node, user, number)
    form = await request.form()
    decision = str(form.get("decision", ""))
    note = str(form.get("note", "")).strip()[:200]
    try:
        if decision == "move_out":
            origin.move_out(
                node,
                actor=user.id,
                case_number=number,
                new_head_id_number=str(form.get("new_head_id_number", "")).strip().upper() or None,
            )
        elif decision == "refuse":
            code = str(form.get("code", ""))
            if code not in REFUSAL_CODES or (code == "other" and not note):
                raise InvalidInput(N_("Give the reason of the refusal: the applicant reads it"))
            text = f"{code}: {note}" if note else code
            origin.refuse_move_out(node, actor=user.id, case_number=number, note=text[:200])
        else:
            raise InvalidInput(N_("Unknown action {action}"), action=decision[:32])
    except TongbanError as exc:
        return _task_page(request, node, user, t, number, error=_error(t, exc), status_code=int(exc.status))
    done = "move_out" if decision == "move_out" else "refuse_move_out"
    return redirect(f"/migrations/origin/tasks/{number}?done={done}")


# ------------------------------------------------------------------------------------------ the destination
@router.get("/migrations", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def migrations_page(request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator) -> Response:
    if not user.is_staff:
        return redirect("/my/migrations")
    rows = []
    alerts = {}
    now = node.clock.now()
    for m in mig.list_migrations(node, locale=t.locale):
        v = window.view(node, number=m.number, locale=t.locale)
        if _may(user, CASE_READ, v):
            rows.append((m, v))
            alert = expiry.alert_of(node, state=m.state, valid_until=m.certificate_valid_until, now=now)
            if alert is not None:
                alerts[m.number] = alert[0]
    return render(
        request,
        "migration/list.html",
        rows=rows,
        alerts=alerts,
        can_create=_may(user, CASE_CREATE),
        matter_names=_matter_names(node, t),
        **_common(t),
    )


def _new_form(
    request: Request, node: NodeContext, t: Translator, template: str = "migration/new.html", **ctx: Any
) -> HTMLResponse:
    """The application form (the window's, or with ``migration/my_new.html`` the citizen's own) for the matter
    asked for, with what it asks for and the local policy's facts."""
    matters = [m for m in cases_setup(node).catalog if m.code in MATTERS]
    form = ctx.pop("form", {})
    code = form.get("matter") or request.query_params.get("matter") or "MIG-SPOUSE"
    current = next((m for m in matters if m.code == code), matters[0])
    status = ctx.pop("status_code", 200)
    return render(
        request,
        template,
        status_code=status,
        matters=matters,
        matter=current,
        asked=current.asked_materials(),
        looked_up=current.looked_up_materials(),
        facts=[FACTS[f] for f in MATTER_FACTS.get(current.code, ())],
        fact_hints=FACT_HINTS,
        max_mb=max(1, node.settings.max_upload_bytes // (1024 * 1024)),
        form=form,
        **ctx,
        **_common(t),
    )


@router.get("/migrations/new", response_class=HTMLResponse, dependencies=[requires(CASE_CREATE)])
def new_migration_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    _staff_only(user)
    return _new_form(request, node, t)


def _staff_only(user: Principal) -> None:
    """The window's acceptance form is for staff; a citizen applies online at ``/my/migrations/new``."""
    if not user.is_staff:
        raise InvalidInput(N_("Citizens apply online for their own migration; staff accept it at the window"))


def facts_of(values: dict[str, str]) -> dict[str, Any]:
    """The policy's facts from the form (empty fields left out; integers as numbers)."""
    facts: dict[str, Any] = {}
    for name in FACT_FIELDS:
        raw = values.get(f"fact_{name}", "").strip()
        if not raw:
            continue
        if FACTS[name].type is FactType.INTEGER:
            if not raw.isdigit():
                raise InvalidInput(N_("Fact {name} has the wrong type"), name=name)
            facts[name] = int(raw)
        else:
            facts[name] = raw
    return facts


@router.post("/migrations/new", dependencies=[requires(CASE_CREATE)])
async def accept_migration_form(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values.pop("csrf_token", None)
    handed = {str(v) for v in form.getlist("handed_in")}
    _staff_only(user)
    try:
        matter = cases_setup(node).catalog.get(values.get("matter", ""))
        missing = [m for m in matter.asked_materials() if m.required and m.key not in handed]
        if missing:
            raise InvalidInput(
                N_("Check the materials first: missing {names}"),
                names="、".join(m.name.get(t.locale) for m in missing),
            )
        applicant = Applicant.from_form(
            values, locale=values.get("applicant_locale") or t.locale, today=node.clock.now().date()
        )
        relation = values.get("relation", "")
        relation = relation if relation in RELATIONS else "other_relative"
        if values.get("same_city") == "yes":
            if values.get("commitment") != "yes":
                raise InvalidInput(
                    N_("The applicant signs the notice and commitment before a migration is accepted")
                )
            view = samecity.move_in_city(
                node,
                actor=actor_of(user),
                applicant=applicant,
                matter=matter.code,
                facts=facts_of(values),
                household_number=values.get("household_number", "").strip(),
                relation=relation,
                new_head_id_number=values.get("new_head_id_number", "").strip().upper() or None,
            )
            return redirect(f"/migrations/{view.number}?done=accepted")
        origin_code = values.get("origin", "").strip() or None
        view = mig.accept_migration(
            node,
            actor=actor_of(user),
            applicant=applicant,
            name=values.get("name", ""),
            matter=matter.code,
            facts=facts_of(values),
            household_number=values.get("household_number", "").strip(),
            relation=relation,
            origin_address=values.get("origin_address", ""),
            origin=origin_code,
            commitment_signed=values.get("commitment") == "yes",
        )
    except TongbanError as exc:
        return _new_form(request, node, t, error=_error(t, exc), form=values, status_code=int(exc.status))
    return redirect(f"/migrations/{view.number}?done=accepted")


def _papers(m: mig.MigrationView) -> list[str]:
    return [k for k, n in (("permit", m.permit_number), ("certificate", m.certificate_number)) if n]


def _steps(node: NodeContext, number: str) -> list[tuple[Any, str]]:
    with node.db.session() as s:
        return [(at, a) for at, a in store.saga_steps(s, number) if a in STEP_LABELS]


def _history_context(node: NodeContext, v: CaseView) -> dict[str, Any]:
    staff_ids = {int(e.actor) for e in v.case.events if e.actor.isdigit()}
    names = {str(k): row[0] for k, row in access_service.user_rows_for_names(node.db, staff_ids).items()}
    return {"actor_names": names}


def _case_page(
    request: Request, node: NodeContext, user: Principal, t: Translator, number: str, **ctx: Any
) -> HTMLResponse:
    v = load_checked(request, node, number, t.locale, action=CASE_READ)
    m = mig.get_migration(node, number=number, locale=t.locale)
    matter = cases_setup(node).catalog.get(v.case.matter)
    state = DestState(m.state)
    decide_ok = _may(user, CASE_DECIDE, v)
    update_ok = _may(user, update_action(v.case.accepting_office), v)
    actions = {
        "approve": decide_ok and state is DestState.ACCEPTED and m.eligible is not False,
        "refuse": decide_ok and state is DestState.ACCEPTED,
        "abandon": decide_ok and state in (DestState.PERMIT_SENT, DestState.CERTIFICATE_RECEIVED),
        "withdraw": update_ok
        and state in (DestState.ACCEPTED, DestState.PERMIT_SENT, DestState.CERTIFICATE_RECEIVED),
        "reissue": update_ok and state is DestState.CERTIFICATE_RECEIVED,
        "move_in": update_ok and state is DestState.CERTIFICATE_RECEIVED,
    }
    with node.db.session() as s:
        row = store.case_row(s, number)
        relation = row.relation if row is not None else None
    status = ctx.pop("status_code", 200)
    return render(
        request,
        "migration/case.html",
        status_code=status,
        v=v,
        c=v.case,
        m=m,
        matter=matter,
        asked=[x for x in matter.materials_for(v.case.procedure) if x.source is MaterialSource.APPLICANT],
        looked_up=[x for x in matter.materials_for(v.case.procedure) if x.source is MaterialSource.REGISTRY],
        actions=actions,
        relation=relation,
        papers=_papers(m),
        uploads=materials.list_materials(node, case_number=number),
        material_names={x.key: x.name.get(t.locale) for x in matter.materials},
        materials_href=f"/migrations/{number}/materials",
        online=v.case.accepting_office == ONLINE_OFFICE,
        alert=expiry.alert_of(
            node, state=m.state, valid_until=m.certificate_valid_until, now=node.clock.now()
        ),
        steps=_steps(node, number),
        done=request.query_params.get("done"),
        **_history_context(node, v),
        **ctx,
        **_common(t),
    )


@router.get("/migrations/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def migration_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    return _case_page(request, node, user, t, number)


def _note(form: Any) -> str | None:
    return str(form.get("note", "")).strip()[:200] or None


@router.post("/migrations/{number}/decide", dependencies=[requires(CASE_DECIDE)])
async def decide_form(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    load_checked(request, node, number, t.locale)
    form = await request.form()
    action = str(form.get("action", ""))
    try:
        if action == "approve":
            mig.approve(node, actor=actor_of(user), number=number)
        elif action == "refuse":
            mig.refuse(node, actor=actor_of(user), number=number, note=_note(form))
        elif action == "abandon":
            mig.abandon(node, actor=actor_of(user), number=number, note=_note(form))
        else:
            raise InvalidInput(N_("Unknown action {action}"), action=action[:32])
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=int(exc.status))
    return redirect(f"/migrations/{number}?done={action}")


@router.post("/migrations/{number}/act", dependencies=[requires(CASE_UPDATE)])
async def act_form(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    load_for_update(request, node, number, t.locale)
    form = await request.form()
    action = str(form.get("action", ""))
    try:
        if action == "withdraw":
            mig.withdraw(node, actor=actor_of(user), number=number, note=_note(form))
        elif action == "reissue":
            mig.request_reissue(node, actor=actor_of(user), number=number)
        elif action == "move_in":
            relation = str(form.get("relation", ""))
            mig.move_in(
                node,
                actor=actor_of(user),
                number=number,
                household_number=str(form.get("household_number", "")).strip() or None,
                relation=relation if relation in RELATIONS else None,
            )
        else:
            raise InvalidInput(N_("Unknown action {action}"), action=action[:32])
    except TongbanError as exc:
        return _case_page(request, node, user, t, number, error=_error(t, exc), status_code=int(exc.status))
    return redirect(f"/migrations/{number}?done={action}")


# ------------------------------------------------------------------------------------------ papers
def _paper_bytes(request: Request, node: NodeContext, number: str, kind: str, form: str) -> tuple[str, bytes]:
    """The signed JSON form of the case's permit (issued here) or certificate (received from the origin);
    every download is audited (the paper carries the applicant's name and ID number)."""
    if kind not in PAPER_KINDS:
        raise NotFound(N_("Not found"))
    with node.db.transaction() as s:
        row = store.case_row(s, number)
        if row is None:
            raise NotFound(N_("No migration case {number} here"), number=number)
        if kind == "permit" and row.permit_number:
            paper_number = row.permit_number
            raw = forms.to_json_bytes(get_paper(s, node=node, number=paper_number).signed)
        elif kind == "certificate" and row.certificate_number and row.certificate_json:
            paper_number, raw = row.certificate_number, row.certificate_json.encode()
        else:
            raise NotFound(N_("No such paper yet for case {number}"), number=number)
        user = request.state.user
        record_audit(
            s,
            actor=user.id,
            action="migration.paper.read",
            object_type="case",
            object_id=number,
            change={"paper": paper_number, "form": form},
            at=node.clock.now(),
        )
    return paper_number, raw


def _download(request: Request, node: NodeContext, number: str, kind: str, form: str) -> Response:
    paper_number, raw = _paper_bytes(request, node, number, kind, form)
    if form == "pdf":
        lang = "en" if request.query_params.get("lang") == "en" else "zh_CN"
        content, media = render_pdf(forms.from_json_bytes(raw), locale=lang), "application/pdf"
    else:
        content, media = raw, "application/json"
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{paper_number}.{form}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/migrations/{number}/materials/{material_id}", dependencies=[requires(CASE_READ)])
def material_file(
    number: str, material_id: RowId, request: Request, node: CurrentNode, t: CurrentTranslator
) -> Response:
    """An uploaded material, for whoever may read the case page (an online application's county reviewer
    included, whose reach the cases API's office-scoped download does not give)."""
    load_checked(request, node, number, t.locale, action=CASE_READ)
    return material_download(node, number, material_id)


@router.get("/migrations/{number}/papers/{kind}.pdf", dependencies=[requires(CASE_READ)])
def paper_pdf(number: str, kind: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    load_checked(request, node, number, t.locale)
    return _download(request, node, number, kind, "pdf")


@router.get("/migrations/{number}/papers/{kind}.json", dependencies=[requires(CASE_READ)])
def paper_json(number: str, kind: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    load_checked(request, node, number, t.locale)
    return _download(request, node, number, kind, "json")


# ------------------------------------------------------------------------------------------ the citizen
def _own(request: Request, node: NodeContext, user: Principal, number: str, locale: str) -> CaseView:
    """The citizen's own migration case, or 404 (as for a case that does not exist); the read is logged."""
    if user.kind is not PrincipalKind.CITIZEN or not _NUMBER.match(number):
        raise NotFound(N_("Not found"))
    try:
        v = load_checked(request, node, number, locale, action=CASE_READ)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    record_view(
        request,
        person_ref=v.case.applicant,
        person_division=v.division,
        reason="own",
        reason_ref=number,
        action=CASE_READ,
    )
    return v


@router.get("/my/migrations", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def my_migrations_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    rows = []
    if user.kind is PrincipalKind.CITIZEN and user.person_ref:
        with node.db.session() as s:
            numbers = store.numbers_of_person(s, user.person_ref)
        for number in numbers:
            rows.append(
                (
                    mig.get_migration(node, number=number, locale=t.locale),
                    window.view(node, number=number, locale=t.locale),
                )
            )
    return render(
        request, "migration/my_list.html", rows=rows, matter_names=_matter_names(node, t), **_common(t)
    )


# The online application (declared before ``/my/migrations/{number}``, which would take "new" for a number).
NOT_A_CITIZEN = N_("Citizens apply online for their own migration; staff accept it at the window")


def _uploads(node: NodeContext, form: Any, matter: Any, t: Translator) -> list[tuple[str, UploadFile]]:
    """The files the applicant chose for the matter's materials, checked before anything is stored: every
    required one given, each within the node's upload limit and a PDF, JPEG or PNG by its first bytes (the
    same checks ``cases.materials.store_upload`` makes when it keeps them)."""
    limit = node.settings.max_upload_bytes
    chosen: list[tuple[str, UploadFile]] = []
    missing = []
    for m in matter.asked_materials():
        f = form.get(f"file_{m.key}")
        if not isinstance(f, UploadFile) or not f.filename or f.size == 0:
            if m.required:
                missing.append(m.name.get(t.locale))
            continue
        if f.size is not None and f.size > limit:
            raise TooLarge(N_("The file is larger than {limit} bytes"), limit=limit)
        head = f.file.read(16)
        f.file.seek(0)
        if materials.sniff(head) is None:
            raise InvalidInput(N_("Only PDF, JPEG and PNG files are accepted"))
        chosen.append((m.key, f))
    if missing:
        raise InvalidInput(N_("Upload the materials first: missing {names}"), names="、".join(missing))
    return chosen


def _my_new_form(request: Request, node: NodeContext, t: Translator, **ctx: Any) -> HTMLResponse:
    return _new_form(request, node, t, "migration/my_new.html", **ctx)


@router.get("/my/migrations/new", response_class=HTMLResponse, dependencies=[requires(CASE_CREATE)])
def my_new_migration_page(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    if user.kind is not PrincipalKind.CITIZEN or not user.person_ref:
        return _my_new_form(request, node, t, error=t(NOT_A_CITIZEN))
    return _my_new_form(request, node, t)


@router.post("/my/migrations/new", dependencies=[requires(CASE_CREATE)])
async def my_new_migration_form(
    request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    """The citizen's own online application at the destination: their ID number must be the one they signed in
    with; the materials are uploaded with it; the case is accepted with office ``online`` in the destination
    household's division and the consent recorded with channel ``online`` (docs/migration.md)."""
    form = await request.form()
    try:
        return _apply_online(request, node, user, t, form)
    finally:
        await form.close()  # the spooled uploads


def _apply_online(request: Request, node: NodeContext, user: Principal, t: Translator, form: Any) -> Response:
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    values.pop("csrf_token", None)
    try:
        if user.kind is not PrincipalKind.CITIZEN or not user.person_ref:
            raise InvalidInput(NOT_A_CITIZEN)
        matter = cases_setup(node).catalog.get(values.get("matter", ""))
        if matter.code not in MATTERS:
            raise InvalidInput(N_("{code} is not a migration matter"), code=matter.code)
        applicant = Applicant.from_form(values, locale=t.locale, today=node.clock.now().date())
        if window.applicant_ref(node, applicant.id_number) != user.person_ref:
            raise InvalidInput(N_("Give your own ID number: the one you signed in with"))
        if values.get("commitment") != "yes":
            raise InvalidInput(
                N_("The applicant signs the notice and commitment before a migration is accepted")
            )
        uploads = _uploads(node, form, matter, t)
        household_number = values.get("household_number", "").strip()
        try:
            with node.db.session() as s:
                division = find_household(s, household_number).division_code
        except NotFound:
            raise InvalidInput(N_("No household {number} in this node."), number=household_number) from None
        relation = values.get("relation", "")
        view = mig.accept_migration(
            node,
            actor=window.Actor(id=user.id, office=ONLINE_OFFICE, division=division),
            applicant=applicant,
            name=values.get("name", ""),
            matter=matter.code,
            facts=facts_of(values),
            household_number=household_number,
            relation=relation if relation in RELATIONS else "other_relative",
            origin_address=values.get("origin_address", ""),
            origin=values.get("origin", "").strip() or None,
            commitment_signed=True,
            channel="online",
        )
        for key, f in uploads:
            materials.store_upload(
                node,
                case_number=view.number,
                material=key,
                stream=f.file,
                actor=user.id,
                declared_size=f.size,
            )
    except TongbanError as exc:
        return _my_new_form(request, node, t, error=_error(t, exc), form=values, status_code=int(exc.status))
    return redirect(f"/my/migrations/{view.number}?done=applied")


@router.get("/my/migrations/{number}", response_class=HTMLResponse, dependencies=[requires(CASE_READ)])
def my_migration_page(
    number: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> HTMLResponse:
    v = _own(request, node, user, number, t.locale)
    m = mig.get_migration(node, number=number, locale=t.locale)
    return render(
        request,
        "migration/my_case.html",
        v=v,
        c=v.case,
        m=m,
        papers=_papers(m),
        uploads=materials.list_materials(node, case_number=number),
        material_names={
            x.key: x.name.get(t.locale) for x in cases_setup(node).catalog.get(v.case.matter).materials
        },
        materials_href=f"/my/migrations/{number}/materials",
        done=request.query_params.get("done"),
        steps=_steps(node, number),
        actor_names={},
        **_common(t),
    )


@router.get("/my/migrations/{number}/materials/{material_id}", dependencies=[requires(CASE_READ)])
def my_material_file(
    number: str,
    material_id: RowId,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> Response:
    """A file the citizen uploaded with their own application (another's case: 404, the read logged)."""
    _own(request, node, user, number, t.locale)
    return material_download(node, number, material_id)


@router.get("/my/migrations/{number}/papers/{kind}.pdf", dependencies=[requires(CASE_READ)])
def my_paper_pdf(
    number: str, kind: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    _own(request, node, user, number, t.locale)
    return _download(request, node, number, kind, "pdf")


@router.get("/my/migrations/{number}/papers/{kind}.json", dependencies=[requires(CASE_READ)])
def my_paper_json(
    number: str, kind: str, request: Request, node: CurrentNode, user: CurrentUser, t: CurrentTranslator
) -> Response:
    _own(request, node, user, number, t.locale)
    return _download(request, node, number, kind, "json")
