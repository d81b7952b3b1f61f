"""The window's use cases, as the API and the pages call them: acceptance with its window record, actions
and decisions audited in the same transaction, and the applicant's and supervisors' notifications.

The applicant is identified by ID number at the window; the case keeps only an opaque keyed digest of it
(``cid:`` + HMAC, the same key as citizens' logins), and the window record keeps the masked number for the
slip. Contacts (phone, e-mail) and the applicant's language are kept for notifications only.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.access.keys import app_secret
from tongban.audit.service import record_audit
from tongban.cases import notify, service, store
from tongban.cases.calendar import DayUnit
from tongban.cases.catalog import Matter
from tongban.cases.domain import Case, CaseAction, CaseState, CloseReason, TimeLeft
from tongban.cases.policy import Decision
from tongban.cases.tables import CaseRow, CaseWindowRow
from tongban.core.errors import InvalidInput
from tongban.core.i18n import N_, normalize_locale
from tongban.core.node import NodeContext
from tongban.idnum.domain import parse_id

PHONE = re.compile(r"^1\d{10}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[A-Za-z]{2,}$")

# What a clerk may do from the window (the rest are the sweep's or a decision's).
WINDOW_ACTIONS = (
    CaseAction.START,
    CaseAction.REQUEST_MATERIALS,
    CaseAction.RECEIVE_MATERIALS,
    CaseAction.WITHDRAW,
)
DECIDING_ACTIONS = (CaseAction.COMPLETE, CaseAction.REFUSE)

STATE_LABELS = {
    CaseState.ACCEPTED: N_("accepted"),
    CaseState.IN_PROGRESS: N_("in progress"),
    CaseState.AWAITING_MATERIALS: N_("awaiting materials"),
    CaseState.CLOSED: N_("closed"),
}
ACTION_LABELS = {
    CaseAction.ACCEPT: N_("Accepted"),
    CaseAction.START: N_("Started"),
    CaseAction.REQUEST_MATERIALS: N_("Materials requested"),
    CaseAction.RECEIVE_MATERIALS: N_("Materials received; clock resumed"),
    CaseAction.RECORD_DECISION: N_("Eligibility decided"),
    CaseAction.COMPLETE: N_("Completed"),
    CaseAction.REFUSE: N_("Refused"),
    CaseAction.WITHDRAW: N_("Withdrawn"),
    CaseAction.EXPIRE_MATERIALS_WAIT: N_("Closed: materials not supplied in time"),
    CaseAction.MARK_OVERDUE: N_("Deadline passed"),
}
CLOSE_LABELS = {
    CloseReason.COMPLETED: N_("completed"),
    CloseReason.REFUSED: N_("refused"),
    CloseReason.WITHDRAWN: N_("withdrawn"),
    CloseReason.MATERIALS_NOT_SUPPLIED: N_("materials not supplied"),
}


def applicant_ref(node: NodeContext, id_number: str) -> str:
    """The opaque reference of an applicant: a keyed digest of the ID number (never the number itself)."""
    mac = hmac.new(app_secret(node.settings), id_number.encode("ascii"), hashlib.sha256).hexdigest()
    return "cid:" + mac[:40]


@dataclass(frozen=True)
class Applicant:
    id_number: str
    phone: str | None
    email: str | None
    locale: str

    @classmethod
    def parse(
        cls, *, id_number: str, phone: str | None, email: str | None, locale: str | None, today: date
    ) -> Applicant:
        number = parse_id(id_number, today=today).number  # raises a 422 naming what is wrong
        phone = (phone or "").strip() or None
        email = (email or "").strip() or None
        if phone is not None and not PHONE.match(phone):
            raise InvalidInput(N_("A mobile number has 11 digits and starts with 1"))
        if email is not None and not EMAIL.match(email):
            raise InvalidInput(N_("The e-mail address is not valid"))
        return cls(number, phone, email, normalize_locale(locale or "zh_CN"))

    @classmethod
    def from_form(cls, values: Mapping[str, str], *, locale: str | None, today: date) -> Applicant:
        """From a submitted form's ``id_number``, ``phone`` and ``email`` fields (see ``parse``)."""
        return cls.parse(
            id_number=values.get("id_number", ""),
            phone=values.get("phone"),
            email=values.get("email"),
            locale=locale,
            today=today,
        )

    @property
    def masked(self) -> str:
        return self.id_number[:6] + "*" * 8 + self.id_number[14:]


@dataclass(frozen=True)
class Actor:
    """Who acts: an account id for the audit log, and the office and division of the window."""

    id: str
    office: str | None
    division: str | None


def _names(matter: Matter, keys: Sequence[str]) -> dict[str, str]:
    by_key = {m.key: m.name for m in matter.materials}
    out = {}
    for loc, sep in (("zh_CN", "、"), ("en", ", ")):
        out[loc] = sep.join(by_key[k].get(loc) if k in by_key else k for k in keys)
    return out


def accept(
    node: NodeContext,
    *,
    actor: Actor,
    matter: str,
    applicant: Applicant,
    procedure: str | None = None,
    office: str | None = None,
    division: str | None = None,
    then: service.Then | None = None,
    session: Session | None = None,
) -> Case:
    """Accept an application at the window: the case, its window record, the audit row and the applicant's
    acceptance message, in one transaction (with ``then``'s writes, e.g. a matter's request to another node);
    with ``session``, in the caller's transaction."""
    one = WindowAcceptance(actor, matter, applicant, procedure, office, division, then)
    with contextlib.nullcontext(session) if session is not None else node.db.transaction() as s:
        return accept_many(node, [one], session=s)[0]


@dataclass(frozen=True)
class WindowAcceptance:
    """One application of ``accept_many``: the arguments of ``accept``."""

    actor: Actor
    matter: str
    applicant: Applicant
    procedure: str | None = None
    office: str | None = None
    division: str | None = None
    then: service.Then | None = None


def accept_many(node: NodeContext, items: Sequence[WindowAcceptance], *, session: Session) -> list[Case]:
    """``accept`` for many applications in the caller's transaction (``service.accept_cases``: the cases
    added together, then each one's window record and ``then``)."""
    return service.accept_cases(node, [_acceptance(node, item) for item in items], session=session)


def _acceptance(node: NodeContext, item: WindowAcceptance) -> service.Acceptance:
    actor, applicant, then = item.actor, item.applicant, item.then
    office = item.office or actor.office
    division = item.division or actor.division
    if not office or not division:
        raise InvalidInput(N_("A case needs an applicant and an accepting office"))

    def record(s: Session, case_id: int, case: Case) -> None:
        s.add(
            CaseWindowRow(
                case_id=case_id,
                division_code=division,
                applicant_masked=applicant.masked,
                phone=applicant.phone,
                email=applicant.email,
                locale=applicant.locale,
            )
        )
        _audit(s, actor, "cases.case.create", case, {"matter": case.matter, "office": office})
        notify.notify_applicant(
            s,
            key=f"case:{case.number}:accepted",
            case_number=case.number,
            phone=applicant.phone,
            email=applicant.email,
            locale=applicant.locale,
            message=notify.CASE_ACCEPTED,
            params={"number": case.number, "due": (case.due or case.accepted_on).isoformat()},
            now=case.events[-1].at,
        )
        if then is not None:
            then(s, case_id, case)

    return service.Acceptance(
        matter=item.matter,
        applicant=applicant_ref(node, applicant.id_number),
        office=office,
        actor=actor.id,
        procedure=item.procedure,
        then=record,
    )


def _audit(s: Session, actor: Actor, action: str, case: Case, change: dict[str, Any]) -> None:
    record_audit(
        s,
        actor=actor.id,
        action=action,
        object_type="case",
        object_id=case.number,
        change={"state": case.state.value, "event": case.events[-1].seq, **change},
        at=case.events[-1].at,
    )


def _window(s: Session, case_id: int) -> CaseWindowRow | None:
    return s.get(CaseWindowRow, case_id)


def act(
    node: NodeContext,
    *,
    actor: Actor,
    number: str,
    action: CaseAction,
    reason: str | None = None,
    missing: Sequence[str] = (),
) -> Case:
    """A clerk's (or reviewer's) action, audited with the change; the applicant hears of requested materials
    and of the closing. An illegal action is a 409 and changes nothing."""
    matter_of = service.cases_setup(node).catalog.get

    def then(s: Session, case_id: int, case: Case) -> None:
        event = case.events[-1]
        _audit(s, actor, f"cases.case.{action.value}", case, {"reason": reason, "missing": list(missing)})
        w = _window(s, case_id)
        if w is None:
            return
        message: str | None = None
        params: dict[str, Any] = {"number": case.number}
        if action is CaseAction.REQUEST_MATERIALS:
            message = notify.MATERIALS_REQUESTED
            params |= {
                "materials": _names(matter_of(case.matter), case.missing_materials),
                "due": (case.materials_due or event.at.date()).isoformat(),
            }
        elif case.is_closed and case.close_reason is not None:
            message = notify.CASE_CLOSED
            params["reason"] = {"msgid": CLOSE_LABELS[case.close_reason]}
        if message is not None:
            notify.notify_applicant(
                s,
                key=f"case:{case.number}:event:{event.seq}",
                case_number=case.number,
                phone=w.phone,
                email=w.email,
                locale=w.locale,
                message=message,
                params=params,
                now=event.at,
            )

    return service.act_on_case(
        node, number=number, action=action, actor=actor.id, reason=reason, missing=missing, then=then
    )


def decide(node: NodeContext, *, actor: Actor, number: str, facts: dict[str, Any]) -> Decision:
    """Record the eligibility decision with the rules and facts used (audited: rule keys and the verdict)."""
    typed = service.parse_facts(facts)

    def then(s: Session, case_id: int, case: Case) -> None:
        decision = case.decision or {}
        _audit(
            s,
            actor,
            "cases.case.decide",
            case,
            {"eligible": decision.get("eligible"), "policy": decision.get("policy_version")},
        )

    return service.decide_eligibility(node, number=number, facts=typed, actor=actor.id, then=then)


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class CaseView:
    case: Case
    division: str | None
    applicant_masked: str | None
    time_left: TimeLeft | None
    explanation: str | None
    matter_name: str
    missing_names: list[str]


@dataclass(frozen=True)
class WindowRecord:
    division_code: str
    applicant_masked: str
    phone: str | None
    email: str | None
    locale: str


def _record(row: CaseWindowRow | None) -> WindowRecord | None:
    if row is None:
        return None
    return WindowRecord(row.division_code, row.applicant_masked, row.phone, row.email, row.locale)


def window_record(node: NodeContext, number: str) -> tuple[Case, WindowRecord | None]:
    with node.db.session() as s:
        loaded = store.load_case(s, number)
        return loaded.obj, _record(_window(s, loaded.id))


def view(node: NodeContext, *, number: str, locale: str) -> CaseView:
    case, w = window_record(node, number)
    return describe(node, case, w.division_code if w else None, w.applicant_masked if w else None, locale)


def describe(
    node: NodeContext, case: Case, division: str | None, masked: str | None, locale: str
) -> CaseView:
    setup = service.cases_setup(node)
    matter = setup.catalog.get(case.matter)
    by_key = {m.key: m.name.get(locale) for m in matter.materials}
    explanation = Decision.from_dict(case.decision).explain(locale) if case.decision else None
    return CaseView(
        case=case,
        division=division,
        applicant_masked=masked,
        time_left=case.time_left(setup.calendar, node.clock.now()),
        explanation=explanation,
        matter_name=matter.name.get(locale),
        missing_names=[by_key.get(k, k) for k in case.missing_materials],
    )


@dataclass(frozen=True)
class QueueFilter:
    office: str | None = None
    division: str | None = None
    state: CaseState | None = None
    due: str | None = None  # "overdue" | "near" (within NEAR_DAYS) | None
    matter: str | None = None
    include_closed: bool = False


NEAR_DAYS = 2


def urgency(left: TimeLeft | None) -> str:
    """``overdue``, ``near`` (due within ``NEAR_DAYS``), ``ok``, or ``none`` (closed)."""
    if left is None:
        return "none"
    if left.late:
        return "overdue"
    return "near" if left.days <= NEAR_DAYS else "ok"


def queue(node: NodeContext, *, filters: QueueFilter, locale: str, limit: int = 200) -> list[CaseView]:
    """Open cases (earliest deadline first) with their time left, within the filters."""
    with node.db.session() as s:
        q = select(CaseRow, CaseWindowRow).outerjoin(CaseWindowRow, CaseWindowRow.case_id == CaseRow.id)
        if filters.office is not None:
            q = q.where(CaseRow.accepting_office == filters.office)
        if filters.division is not None:
            q = q.where(CaseWindowRow.division_code.startswith(filters.division))
        if filters.state is not None:
            q = q.where(CaseRow.state == filters.state.value)
        elif not filters.include_closed:
            q = q.where(CaseRow.state != CaseState.CLOSED.value)
        if filters.matter:
            q = q.where(CaseRow.matter == filters.matter)
        q = q.order_by(CaseRow.deadline_at.is_(None), CaseRow.deadline_at, CaseRow.id).limit(limit)
        rows = [(store.case_from_row(row), _record(w)) for row, w in s.execute(q).all()]
    views = [
        describe(node, c, w.division_code if w else None, w.applicant_masked if w else None, locale)
        for c, w in rows
    ]
    if filters.due is not None:
        views = [v for v in views if urgency(v.time_left) == filters.due]
    return views


def time_left_text(left: TimeLeft | None, t: Any) -> str:
    """``3 working days left`` / ``overdue by 2 days`` in the translator ``t``'s language."""
    if left is None:
        return ""
    unit = t(N_("working days")) if left.unit is DayUnit.WORKING_DAYS else t(N_("calendar days"))
    if left.late:
        return str(t(N_("overdue by {days} {unit}"), days=-left.days, unit=unit))
    if left.days == 0:
        text = str(t(N_("due today")))
    else:
        text = str(t(N_("{days} {unit} left"), days=left.days, unit=unit))
    if left.materials:
        text += " · " + str(t(N_("waiting for materials")))
    return text


def deadline_moment(case: Case) -> datetime | None:
    return case.live_deadline()
