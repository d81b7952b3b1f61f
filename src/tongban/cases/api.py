"""The cases REST API (``/api/v1/cases``): thin routes over ``window``, ``materials`` and ``documents``.

Every route declares its rule with ``requires``; once a case is loaded, ``ensure_in_scope`` checks it lies
in the user's jurisdiction (its accepting office and division, its applicant for a citizen); outside
answers like a missing case. Errors are problem documents: an illegal transition is a 409 that changes
nothing. Writes are audited in the transaction of the change (see ``window``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tongban.access.domain import Principal, Scope
from tongban.access.web import CurrentUser, ensure_in_scope, scope_filter
from tongban.cases import documents, materials, notify, window
from tongban.cases.domain import Case, CaseAction, CaseState
from tongban.cases.window import Actor, Applicant, CaseView, QueueFilter
from tongban.core.errors import InvalidInput
from tongban.core.i18n import N_
from tongban.core.routing import RowId, requires
from tongban.web.app import CurrentNode, CurrentTranslator

router = APIRouter(prefix="/cases", tags=["cases"])

CASE_CREATE = "cases.case.create"
CASE_READ = "cases.case.read"
CASE_UPDATE = "cases.case.update"
CASE_DECIDE = "cases.case.decide"
MATERIAL_ADD = "cases.material.add"
MATERIAL_READ = "cases.material.read"
CONSENT_RECORD = "cases.consent.record"
EVIDENCE_REQUEST = "cases.evidence.request"
NOTIFICATION_READ = "cases.notification.read"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseCreate(_Schema):
    matter: str = Field(min_length=1, max_length=32)
    procedure: str | None = None
    id_number: str = Field(min_length=15, max_length=24, examples=["11010519491231002X"])
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    locale: Literal["zh_CN", "en"] = "zh_CN"


class CaseActionCreate(_Schema):
    action: Literal["start", "request_materials", "receive_materials", "withdraw"]
    reason: str | None = Field(default=None, max_length=500)
    missing: list[str] = Field(default_factory=list, max_length=50)


class DecisionCreate(_Schema):
    facts: dict[str, Any] = Field(default_factory=dict)
    conclude: Literal["complete", "refuse"] | None = None
    reason: str | None = Field(default=None, max_length=500)


class ConsentCreate(_Schema):
    purpose: str = Field(min_length=1, max_length=64)
    channel: Literal["window", "online"] = "window"


class EvidenceCreate(_Schema):
    consent_id: str | None = None
    target_node: str = Field(pattern=r"^\d{6}$")
    material: str = Field(min_length=1, max_length=64)
    # Whose record is looked up (the case keeps only a digest of the applicant's number).
    id_number: str | None = Field(default=None, pattern=r"^[0-9]{17}[0-9X]$")


class TimeLeftRead(BaseModel):
    days: int
    unit: str
    waiting_for_materials: bool
    urgency: str
    text: str


class EventRead(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str | None


class CaseRead(BaseModel):
    number: str
    matter: str
    matter_name: str
    procedure: str
    state: str
    close_reason: str | None
    accepting_office: str
    division: str | None
    applicant: str | None  # masked ID number
    accepted_at: datetime | None
    due: date | None
    materials_due: date | None
    missing_materials: list[str]
    overdue: bool
    time_left: TimeLeftRead | None
    decision: dict[str, Any] | None
    explanation: str | None
    allowed_actions: list[str]
    history: list[EventRead]


def actor_of(user: Principal) -> Actor:
    return Actor(id=user.id, office=user.office_code, division=user.division_code)


def case_read(v: CaseView, t: Any, *, with_history: bool = True) -> CaseRead:
    c = v.case
    left = v.time_left
    return CaseRead(
        number=c.number,
        matter=c.matter,
        matter_name=v.matter_name,
        procedure=c.procedure,
        state=c.state.value,
        close_reason=c.close_reason.value if c.close_reason else None,
        accepting_office=c.accepting_office,
        division=v.division,
        applicant=v.applicant_masked,
        accepted_at=c.accepted_at,
        due=c.due,
        materials_due=c.materials_due,
        missing_materials=list(c.missing_materials),
        overdue=c.overdue_at is not None,
        time_left=(
            TimeLeftRead(
                days=left.days,
                unit=left.unit.value,
                waiting_for_materials=left.materials,
                urgency=window.urgency(left),
                text=window.time_left_text(left, t),
            )
            if left
            else None
        ),
        decision=dict(c.decision) if c.decision else None,
        explanation=v.explanation,
        allowed_actions=[a.value for a in c.allowed_actions()],
        history=[
            EventRead(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                reason=e.reason,
            )
            for e in c.events
        ]
        if with_history
        else [],
    )


def check_case(request: Request, v: CaseView | tuple[Case, str | None], action: str | None = None) -> None:
    """404 unless the case lies within the user's scope for the route's action (or ``action``)."""
    case, division = (v.case, v.division) if isinstance(v, CaseView) else v
    ensure_in_scope(
        request,
        division,
        office_code=case.accepting_office,
        person_ref=case.applicant,
        matter=case.matter,
        action=action,
    )


def load_checked(
    request: Request, node: Any, number: str, locale: str, action: str | None = None
) -> CaseView:
    v = window.view(node, number=number, locale=locale)
    check_case(request, v, action)
    return v


def queue_filter(request: Request, *, action: str = CASE_READ, **given: Any) -> QueueFilter:
    """The user's jurisdiction as a queue filter, narrowed by what they asked for."""
    user: Principal = request.state.user
    scope, prefix = scope_filter(request, action)
    office = user.office_code if scope is Scope.OFFICE else None
    division = prefix or None
    if scope is Scope.OWN:
        raise InvalidInput(N_("Citizens follow their cases by case number"))
    return QueueFilter(office=office, division=division, **given)


# ------------------------------------------------------------------------------------------ routes
@router.post("", status_code=201, dependencies=[requires(CASE_CREATE)])
def accept_case(body: CaseCreate, node: CurrentNode, user: CurrentUser, t: CurrentTranslator) -> CaseRead:
    applicant = Applicant.parse(
        id_number=body.id_number,
        phone=body.phone,
        email=body.email,
        locale=body.locale,
        today=node.clock.now().date(),
    )
    case = window.accept(
        node, actor=actor_of(user), matter=body.matter, procedure=body.procedure, applicant=applicant
    )
    return case_read(window.view(node, number=case.number, locale=t.locale), t)


@router.get("", dependencies=[requires(CASE_READ)])
def list_cases(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    state: CaseState | None = None,
    due: Literal["overdue", "near", "ok"] | None = None,
    matter: str | None = Query(default=None, max_length=32),
    include_closed: bool = False,
) -> list[CaseRead]:
    filters = queue_filter(request, state=state, due=due, matter=matter, include_closed=include_closed)
    return [case_read(v, t, with_history=False) for v in window.queue(node, filters=filters, locale=t.locale)]


@router.get("/notifications", dependencies=[requires(NOTIFICATION_READ)])
def my_notifications(node: CurrentNode, user: CurrentUser, t: CurrentTranslator) -> list[dict[str, Any]]:
    return [
        {"id": n.id, "at": n.at, "text": n.text, "case": n.case_number, "read": n.read}
        for n in notify.inbox(node, user_id=user.id, locale=t.locale)
    ]


@router.post(
    "/notifications/{notification_id}/read", status_code=204, dependencies=[requires(NOTIFICATION_READ)]
)
def read_notification(notification_id: RowId, node: CurrentNode, user: CurrentUser) -> Response:
    notify.mark_read(node, user_id=user.id, notification_id=notification_id)
    return Response(status_code=204)


@router.get("/{number}", dependencies=[requires(CASE_READ)])
def get_case(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> CaseRead:
    return case_read(load_checked(request, node, number, t.locale), t)


@router.post("/{number}/actions", dependencies=[requires(CASE_UPDATE)])
def act_on_case(
    number: str,
    body: CaseActionCreate,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> CaseRead:
    load_checked(request, node, number, t.locale)
    window.act(
        node,
        actor=actor_of(user),
        number=number,
        action=CaseAction(body.action),
        reason=body.reason,
        missing=body.missing,
    )
    return case_read(window.view(node, number=number, locale=t.locale), t)


@router.post("/{number}/decision", dependencies=[requires(CASE_DECIDE)])
def decide(
    number: str,
    body: DecisionCreate,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> CaseRead:
    load_checked(request, node, number, t.locale)
    if body.facts:
        window.decide(node, actor=actor_of(user), number=number, facts=body.facts)
    if body.conclude is not None:
        window.act(
            node, actor=actor_of(user), number=number, action=CaseAction(body.conclude), reason=body.reason
        )
    return case_read(window.view(node, number=number, locale=t.locale), t)


@router.post("/{number}/materials", status_code=201, dependencies=[requires(MATERIAL_ADD)])
def upload_material(
    number: str,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    material: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> dict[str, Any]:
    load_checked(request, node, number, t.locale)
    stored = materials.store_upload(
        node, case_number=number, material=material, stream=file.file, actor=user.id, declared_size=file.size
    )
    return {
        "id": stored.id,
        "material": stored.material,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
    }


@router.get("/{number}/materials", dependencies=[requires(CASE_READ)])
def list_materials(
    number: str, request: Request, node: CurrentNode, t: CurrentTranslator
) -> list[dict[str, Any]]:
    load_checked(request, node, number, t.locale)
    return [
        {
            "id": m.id,
            "material": m.material,
            "content_type": m.content_type,
            "size": m.size,
            "uploaded_at": m.uploaded_at,
        }
        for m in materials.list_materials(node, case_number=number)
    ]


@router.get("/{number}/materials/{material_id}", dependencies=[requires(MATERIAL_READ)])
def download_material(
    number: str, material_id: RowId, request: Request, node: CurrentNode, t: CurrentTranslator
) -> FileResponse:
    load_checked(request, node, number, t.locale)
    return material_download(node, number, material_id)


def material_download(node: Any, number: str, material_id: int) -> FileResponse:
    """An uploaded material of case ``number`` as an attachment (the caller has checked the reader's reach):
    never shown inline, never sniffed, sandboxed if a browser opens it anyway."""
    stored, path = materials.open_material(node, case_number=number, material_id=material_id)
    return FileResponse(
        path,
        media_type=stored.content_type,
        filename=materials.download_name(stored),
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


@router.post("/{number}/consents", status_code=201, dependencies=[requires(CONSENT_RECORD)])
def record_consent(
    number: str,
    body: ConsentCreate,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> dict[str, str]:
    load_checked(request, node, number, t.locale)
    cid = materials.record_consent(
        node, case_number=number, purpose=body.purpose, channel=body.channel, actor=user.id
    )
    return {"id": cid}


@router.post("/{number}/evidence-requests", status_code=201, dependencies=[requires(EVIDENCE_REQUEST)])
def request_evidence(
    number: str,
    body: EvidenceCreate,
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
) -> dict[str, Any]:
    load_checked(request, node, number, t.locale)
    r = materials.request_evidence(
        node,
        case_number=number,
        consent_id=body.consent_id,
        target_node=body.target_node,
        material=body.material,
        actor=user.id,
        id_number=body.id_number,
    )
    return {"id": r.id, "state": r.state, "consent_id": r.consent_id, "envelope_id": r.envelope_id}


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/{number}/slip.pdf", dependencies=[requires(CASE_READ)])
def slip_pdf(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    load_checked(request, node, number, t.locale)
    data = documents.slip_data(node, number=number, locale=t.locale)
    return _pdf(documents.slip_pdf(data, t.locale), f"{number}-slip.pdf")


@router.get("/{number}/notice.pdf", dependencies=[requires(CASE_READ)])
def notice_pdf(number: str, request: Request, node: CurrentNode, t: CurrentTranslator) -> Response:
    load_checked(request, node, number, t.locale)
    data = documents.notice_data(node, number=number, locale=t.locale)
    return _pdf(documents.notice_pdf(data, t.locale), f"{number}-notice.pdf")
