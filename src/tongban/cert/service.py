"""CERT use cases across two nodes, over the exchange.

At the accepting node (A): ``accept_certificate`` accepts the case at the window, records the applicant's
consent and asks the national locator where the person is registered, all in one transaction; the locator's
answer (``route_on_answer``) sends ``cert.request.v1`` to the hukou node (B), or refuses the case.
``apply_result`` applies ``cert.result.v1``: the paper is checked against the directory, attached and the case
closed completed, or the case is closed refused with the reason; the applicant is told in their language.

At the hukou node (B): ``apply_request`` checks the registry, logs the read of the person's record with the
case as the reason, issues the paper where the catalog allows automatic issuing (else opens a reviewer's task)
and enqueues the result, in the apply transaction of the exchange.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.access.store import add_views
from tongban.audit.service import record_audit
from tongban.cases import notify, window
from tongban.cases import store as cases_store
from tongban.cases.domain import CaseRef, CaseState, Task, TaskAction
from tongban.cases.service import cases_setup
from tongban.cases.tables import CaseWindowRow, ConsentRow
from tongban.cert import store
from tongban.cert.domain import (
    ACCEPTING_REFUSALS,
    MATTER,
    REFUSAL_TEXTS,
    REQUEST_TYPE,
    RESULT_TYPE,
    CertKind,
    CertRequest,
    CertResult,
    Refusal,
    RequestedFacts,
)
from tongban.cert.registry_check import Check, check_registry
from tongban.cert.settings import cert_settings
from tongban.cert.tables import CertRequestRow, CertReviewRow
from tongban.core.errors import Conflict, InvalidInput, NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash, types
from tongban.exchange.locator import LOCATOR_CODE, ask_locator, on_answer
from tongban.exchange.service import Incoming, enqueue, exchange_of, register_handler
from tongban.exchange.tables import LocatorAnswerRow, OutboxRow
from tongban.papers import forms
from tongban.papers.directory import DirectoryKeyResolver
from tongban.papers.domain import Status, verify_paper
from tongban.papers.service import issue_paper

log = logging.getLogger("tongban.cert")

CERT_ISSUED = N_(
    "Your certificate for case {number} was issued ({paper}); collect it at the window or download it."
)
CERT_REFUSED = N_("Case {number}: the hukou locality refused the certificate: {reason}.")

AUTOMATIC_ACTOR = "system:cert-auto"


# -- routing ---------------------------------------------------------------------------------------------

ROUTING_ACTOR = "system:cert-routing"
CERT_NOT_ROUTED = N_("Case {number}: the certificate cannot be requested: {reason}.")


def route_of_answer(
    *, node: NodeContext, kind: CertKind, answer_node: str | None, status: str
) -> tuple[str | None, Refusal | None]:
    """Where the locator's answer sends a request of ``kind``, or why it cannot be sent.

    Routing is by the locator's answer only, never by the ID number's prefix (DESIGN.md "Directory, keys,
    locator"). A registered person's node gets the request; a cancelled registration goes to the node that
    cancelled it for a cancellation certificate and is refused otherwise; an unknown person is refused.
    """
    if status == "unknown" or answer_node is None:
        return None, Refusal.NOT_LOCATED
    if status == "cancelled" and kind is not CertKind.CANCELLATION:
        return None, Refusal.REGISTRATION_CANCELLED
    if answer_node == node.code:
        return None, Refusal.REGISTERED_HERE
    if exchange_of(node).directory.current.node(answer_node) is None:
        return None, Refusal.NO_NODE
    return answer_node, None


def route_on_answer(session: Session, node: NodeContext, answer: LocatorAnswerRow) -> None:
    """The locator's answer to a question asked at a CERT acceptance: send the request to the node it names,
    or close the case refused with the reason; in the exchange's apply transaction. An answer to another
    question, or a second answer to this one, changes nothing."""
    row = session.scalars(
        select(CertRequestRow).where(CertRequestRow.question_hash == answer.question_hash).with_for_update()
    ).one_or_none()
    if row is None or row.state != store.ROUTING or row.pending is None:
        return
    now = node.clock.now()
    loaded = cases_store.load_case(session, row.case_number)
    case = loaded.obj
    pending = row.pending
    if case.is_closed:  # withdrawn while routing: nothing is sent
        row.state, row.pending, row.closed_at = store.CLOSED, None, now
        return
    kind = CertKind(row.kind)
    recipient, refusal = route_of_answer(node=node, kind=kind, answer_node=answer.node, status=answer.status)
    if recipient is not None:
        _send(
            session,
            node=node,
            row=row,
            kind=kind,
            id_number=str(pending["id_number"]),
            purpose=str(pending["purpose"]),
            facts=RequestedFacts.model_validate(pending.get("facts") or {}),
            recipient=recipient,
        )
        if case.state is CaseState.ACCEPTED:
            case.start(now=now, actor=ROUTING_ACTOR)
            cases_store.save_case(session, loaded)
        record_audit(
            session,
            actor=ROUTING_ACTOR,
            action="cert.request.send",
            object_type="case",
            object_id=case.number,
            change={"kind": kind.value, "recipient": recipient, "routed_by": row.routed_by},
            at=now,
        )
        return
    assert refusal is not None
    row.state, row.reason, row.pending, row.closed_at = store.REFUSED, refusal.value, None, now
    case.refuse(now=now, actor=ROUTING_ACTOR, reason=refusal.value)
    cases_store.save_case(session, loaded)
    record_audit(
        session,
        actor=ROUTING_ACTOR,
        action="cert.request.unroutable",
        object_type="case",
        object_id=case.number,
        change={"kind": kind.value, "locator_status": answer.status, "reason": refusal.value},
        at=now,
    )
    _notify(
        session,
        case_id=loaded.id,
        number=case.number,
        key="refused",
        message=CERT_NOT_ROUTED,
        params={"number": case.number, "reason": {"msgid": REFUSAL_TEXTS[refusal]}},
        now=now,
    )


# -- at the accepting node -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertCase:
    number: str
    recipient: str | None
    routed_by: str
    consent_ref: str
    state: str


def _send(
    session: Session,
    *,
    node: NodeContext,
    row: CertRequestRow,
    kind: CertKind,
    id_number: str,
    purpose: str,
    facts: RequestedFacts,
    recipient: str,
) -> None:
    body = CertRequest(
        case_ref=row.case_number,
        kind=kind,
        id_number=id_number,
        consent_ref=row.consent_ref,
        purpose=purpose,
        facts=facts,
    )
    eid = enqueue(
        session,
        node=node,
        recipient=recipient,
        type=REQUEST_TYPE,
        body=body.model_dump(mode="json"),
        case_ref=row.case_number,
        consent_ref=row.consent_ref,
    )
    out = session.get(OutboxRow, str(eid))
    assert out is not None
    row.recipient, row.envelope_id, row.request_hash = recipient, str(eid), envelope_hash(out.raw)
    row.state, row.pending = store.SENT, None


def request_certificate(
    session: Session,
    *,
    node: NodeContext,
    case_number: str,
    kind: CertKind,
    id_number: str,
    purpose: str,
    facts: RequestedFacts,
    consent_ref: str | None,
    recipient: str,
    routed_by: str,
) -> CertRequestRow:
    """Enqueue ``cert.request.v1`` for a case to a known ``recipient``, in the caller's transaction, and
    remember its hash."""
    row = CertRequestRow(
        case_number=case_number,
        kind=kind.value,
        routed_by=routed_by,
        consent_ref=consent_ref,
        state=store.SENT,
        created_at=node.clock.now(),
    )
    _send(
        session,
        node=node,
        row=row,
        kind=kind,
        id_number=id_number,
        purpose=purpose,
        facts=facts,
        recipient=recipient,
    )
    session.add(row)
    return row


def accept_certificate(
    node: NodeContext,
    *,
    actor: window.Actor,
    applicant: window.Applicant,
    kind: CertKind | str,
    purpose: str,
    facts: RequestedFacts | None = None,
    consent_purpose: str = "hukou record for a certificate",
    channel: str = "window",
) -> CertCase:
    """Accept a CERT case with the applicant's consent and ask the national locator where the person is
    registered, in one transaction (case, window record, consent, audit rows, acceptance message, the
    locator question in the outbox). The case waits in ``routing`` until the answer arrives; then
    ``route_on_answer`` sends ``cert.request.v1`` or closes the case refused. ``channel`` is ``window`` (a
    clerk) or ``online`` (the applicant on the portal: procedure ``online``)."""
    kind = CertKind(kind)
    purpose = purpose.strip()
    if not purpose or len(purpose) > 100:
        raise InvalidInput(N_("A certificate request names its purpose (up to 100 characters)"))
    if channel not in ("window", "online"):
        raise InvalidInput(N_("Unknown channel {channel}"), channel=channel)
    if kind is CertKind.KINSHIP and facts is not None and facts.relative_id_number == applicant.id_number:
        raise InvalidInput(N_("The relative named is the applicant"))
    facts = facts or RequestedFacts()
    if exchange_of(node).directory.current.node(LOCATOR_CODE) is None:
        raise InvalidInput(N_("The directory has no national locator: a certificate cannot be routed"))
    holder: dict[str, CertCase] = {}

    def then(s: Session, case_id: int, case: Any) -> None:
        now = node.clock.now()
        consent_ref = str(uuid.uuid4())
        s.add(
            ConsentRow(
                id=consent_ref,
                case_id=case_id,
                purpose=consent_purpose,
                granted_at=now,
                recorded_by=actor.id,
                channel=channel,
            )
        )
        record_audit(
            s,
            actor=actor.id,
            action="cases.consent.record",
            object_type="case",
            object_id=case.number,
            change={"consent": consent_ref, "purpose": consent_purpose, "channel": channel},
            at=now,
        )
        question = ask_locator(s, node=node, id_number=applicant.id_number)
        out = s.get(OutboxRow, str(question))
        assert out is not None
        s.add(
            CertRequestRow(
                case_number=case.number,
                kind=kind.value,
                recipient=None,
                routed_by="locator",
                question_hash=envelope_hash(out.raw),
                pending={
                    "id_number": applicant.id_number,
                    "purpose": purpose,
                    "facts": facts.model_dump(mode="json"),
                },
                consent_ref=consent_ref,
                state=store.ROUTING,
                created_at=now,
            )
        )
        record_audit(
            s,
            actor=actor.id,
            action="cert.request.route",
            object_type="case",
            object_id=case.number,
            change={"kind": kind.value, "asked": LOCATOR_CODE},
            at=now,
        )
        holder["case"] = CertCase(case.number, None, "locator", consent_ref, store.ROUTING)

    procedure = "online" if channel == "online" else None
    window.accept(node, actor=actor, matter=MATTER, applicant=applicant, procedure=procedure, then=then)
    return holder["case"]


def _notify(
    s: Session, *, case_id: int, number: str, key: str, message: str, params: dict[str, Any], now: datetime
) -> None:
    record = s.get(CaseWindowRow, case_id)
    if record is None:
        return
    notify.notify_applicant(
        s,
        key=f"case:{number}:{key}",
        case_number=number,
        phone=record.phone,
        email=record.email,
        locale=record.locale,
        message=message,
        params=params,
        now=now,
    )


def apply_result(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``cert.result.v1`` at the accepting node: attach the paper and complete the case, or refuse it."""
    result = incoming.message
    assert isinstance(result, CertResult)
    env = incoming.envelope
    if env.in_reply_to != result.request_hash:
        raise ValueError("a certificate result names the hash of its request")
    row = store.request_by_hash(session, result.request_hash)
    if row is None or row.recipient != env.sender or row.case_number != result.case_ref:
        raise ValueError("a certificate result for no request sent to its sender")
    if row.state != store.SENT:
        return  # already applied (the exchange applies once; this keeps a replayed result harmless)
    now = node.clock.now()
    loaded = cases_store.load_case(session, row.case_number)
    case = loaded.obj
    actor = f"node:{env.sender}"
    if result.outcome == "issued":
        if result.paper is None:
            raise ValueError("an issued result carries its paper")
        signed = forms.from_json_bytes(result.paper.encode("utf-8"))
        verdict = verify_paper(signed, DirectoryKeyResolver(exchange_of(node).directory), None, now)
        paper = verdict.paper
        if verdict.status is not Status.VALID or paper is None:
            raise ValueError(f"the paper does not verify: {[r.code for r in verdict.reasons]}")
        if (
            paper.issuer != env.sender
            or paper.type != CertKind(row.kind).paper_type
            or window.applicant_ref(node, str(paper.subject.get("id_number", ""))) != case.applicant
        ):
            raise ValueError("the paper is not the one requested (issuer, type or person differ)")
        row.state, row.paper_number, row.paper_json = store.ISSUED, paper.number, result.paper
        if case.state is CaseState.ACCEPTED:
            case.start(now=now, actor=actor)
        case.complete(now=now, actor=actor, reason=paper.number)
        message = CERT_ISSUED
        params: dict[str, Any] = {"number": case.number, "paper": paper.number}
    else:
        if result.reason is None:
            raise ValueError("a refusal carries its reason")
        row.state, row.reason = store.REFUSED, result.reason.value
        case.refuse(now=now, actor=actor, reason=result.reason.value)
        message = CERT_REFUSED
        params = {"number": case.number, "reason": {"msgid": REFUSAL_TEXTS[result.reason]}}
    row.closed_at = now
    cases_store.save_case(session, loaded)
    record_audit(
        session,
        actor=actor,
        action="cert.result.apply",
        object_type="case",
        object_id=case.number,
        change={"outcome": result.outcome, "reason": row.reason, "paper": row.paper_number},
        at=now,
    )
    _notify(
        session,
        case_id=loaded.id,
        number=case.number,
        key=result.outcome,
        message=message,
        params=params,
        now=now,
    )


# -- at the hukou node -----------------------------------------------------------------------------------


def _answer(
    session: Session, *, node: NodeContext, incoming: Incoming, request: CertRequest, **fields: Any
) -> None:
    _answer_to(
        session,
        node=node,
        recipient=incoming.envelope.sender,
        case_ref=request.case_ref,
        request_hash=envelope_hash(incoming.envelope.raw),
        consent_ref=incoming.envelope.consent_ref,
        **fields,
    )


def _answer_to(
    session: Session,
    *,
    node: NodeContext,
    recipient: str,
    case_ref: str,
    request_hash: str,
    consent_ref: str | None,
    **fields: Any,
) -> None:
    body = CertResult(case_ref=case_ref, request_hash=request_hash, **fields)
    enqueue(
        session,
        node=node,
        recipient=recipient,
        type=RESULT_TYPE,
        body=body.model_dump(mode="json"),
        case_ref=case_ref,
        consent_ref=consent_ref,
        in_reply_to=request_hash,
    )


def _log_read(
    session: Session,
    *,
    node: NodeContext,
    sender: str,
    check: Check,
    case_ref: str,
    viewer: tuple[str, str, str | None, str | None] | None = None,
) -> None:
    """The read of the person's record, in the person's access records, with the case as the reason
    (``viewer``: id, role, division, office of a reviewer; else the requesting node)."""
    assert check.person_id is not None
    viewer_id, role, division, office = viewer or (f"node:{sender}", "exchange", None, None)
    add_views(
        session,
        [
            {
                "at": node.clock.now(),
                "viewer_id": viewer_id,
                "viewer_role": role,
                "viewer_division": division,
                "viewer_office": office,
                "person_ref": str(check.person_id),
                "person_division": check.division_code,
                "reason": "case",
                "reason_ref": f"{sender}/{case_ref}"[:64],
                "action": "cert.request.check",
            }
        ],
    )


def apply_request(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``cert.request.v1`` at the hukou node: check, log the read, issue or refuse, answer; one transaction."""
    request = incoming.message
    assert isinstance(request, CertRequest)
    env = incoming.envelope
    if env.case_ref != request.case_ref:
        raise ValueError("the request's case differs from its envelope's")
    sender = env.sender
    now = node.clock.now()
    outcome: dict[str, Any]
    paper_number: str | None = None
    task_ref: str | None = None
    if env.consent_ref is None or request.consent_ref != env.consent_ref:
        # Nothing is read without the applicant's consent.
        outcome = {"outcome": "refused", "reason": Refusal.CONSENT_MISSING}
    else:
        check = check_registry(session, kind=request.kind, id_number=request.id_number, facts=request.facts)
        if check.person_id is not None:
            _log_read(session, node=node, sender=sender, check=check, case_ref=request.case_ref)
        if check.refusal is not None:
            outcome = {"outcome": "refused", "reason": check.refusal}
        elif cases_setup(node).catalog.get(MATTER).allows_automatic and not cert_settings(node).reviews_all(
            node.code
        ):
            assert check.subject is not None and check.facts is not None and check.division_code is not None
            paper = issue_paper(
                session,
                node=node,
                actor=AUTOMATIC_ACTOR,
                type=request.kind.paper_type,
                subject=check.subject,
                facts=check.facts,
                valid_until=None,
                purpose=request.purpose,
                division_code=check.division_code,
                subject_ref=str(check.person_id),
            )
            paper_number = paper.number
            outcome = {"outcome": "issued", "paper": forms.to_json_bytes(paper.signed).decode("utf-8")}
        else:
            assert check.division_code is not None
            task_ref = _reviewer_task(session, node=node, sender=sender, case_ref=request.case_ref)
            if (
                session.scalars(select(CertReviewRow.id).where(CertReviewRow.task_ref == task_ref)).first()
                is None
            ):
                session.add(
                    CertReviewRow(
                        task_ref=task_ref,
                        sender=sender,
                        case_ref=request.case_ref,
                        kind=request.kind.value,
                        id_number=request.id_number,
                        id_masked=request.id_number[:6] + "*" * 8 + request.id_number[14:],
                        purpose=request.purpose,
                        facts=request.facts.model_dump(mode="json"),
                        consent_ref=env.consent_ref,
                        request_hash=envelope_hash(env.raw),
                        division_code=check.division_code,
                        state=store.OPEN,
                        received_at=now,
                    )
                )
            outcome = {}
    record_audit(
        session,
        actor=f"node:{sender}",
        action="cert.request.decide",
        object_type="case",
        object_id=f"{sender}/{request.case_ref}",
        change={
            "kind": request.kind.value,
            "outcome": outcome.get("outcome", "review"),
            "reason": None if outcome.get("reason") is None else str(outcome["reason"]),
            "paper": paper_number,
            "task": task_ref,
        },
        at=now,
    )
    if outcome:
        _answer(session, node=node, incoming=incoming, request=request, **outcome)


def _reviewer_task(session: Session, *, node: NodeContext, sender: str, case_ref: str) -> str:
    """Where the catalog does not allow automatic issuing: the reviewer's task of the ``issue`` step."""
    setup = cases_setup(node)
    matter = setup.catalog.get(MATTER)
    step = next(s for s in matter.procedure(None).steps if s.key == "issue")
    if step.time_limit is not None and step.time_limit.policy:
        from tongban.cases.calendar import local_date
        from tongban.cases.service import policy_for

        limit = step.time_limit.resolve(policy_for(node, locality=None, day=local_date(node.clock.now())))
    else:  # pragma: no cover - CERT's issue step has a policy limit
        from tongban.cases.calendar import TimeLimit

        limit = TimeLimit.working_days(0)
    ref = f"cert:{sender}:{case_ref}"
    if cases_store.find_task(session, ref) is None:
        task = Task.receive(
            ref=ref,
            case=CaseRef(sender, case_ref),
            owner_node=node.code,
            matter=MATTER,
            step="issue",
            time_limit=limit,
            calendar=setup.calendar,
            now=node.clock.now(),
            actor=AUTOMATIC_ACTOR,
        )
        cases_store.add_task(session, task)
    return ref


@dataclass(frozen=True)
class Reviewer:
    """Who decides at the hukou node: their id, and their office's division and office code."""

    id: str
    division: str | None
    office: str | None


def decide_review(
    node: NodeContext, *, reviewer: Reviewer, task_ref: str, issue: bool, reason: Refusal | str | None = None
) -> CertReviewRow:
    """The reviewer's decision on a request waiting at the hukou node, in one transaction: the register is
    read again (the read logged with the case as the reason), the paper issued or the refusal recorded, the
    task closed, the decision audited and ``cert.result.v1`` enqueued to the accepting node. The caller
    checks the reviewer's jurisdiction over ``division_code``."""
    refusal = None if reason is None or reason == "" else Refusal(reason)
    if not issue and refusal is None:
        raise InvalidInput(N_("A refusal gives its reason"))
    if refusal in ACCEPTING_REFUSALS:
        raise InvalidInput(N_("This reason is decided by the accepting node, not here"))
    with node.db.transaction() as s:
        row = s.scalars(
            select(CertReviewRow).where(CertReviewRow.task_ref == task_ref).with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(N_("No certificate request {ref} waits for review"), ref=task_ref)
        if row.state != store.OPEN or row.id_number is None:
            raise Conflict(N_("The certificate request {ref} was already decided"), ref=task_ref)
        now = node.clock.now()
        kind = CertKind(row.kind)
        facts = RequestedFacts.model_validate(row.facts)
        paper_number: str | None = None
        outcome: dict[str, Any]
        if issue:
            check = check_registry(s, kind=kind, id_number=row.id_number, facts=facts)
            if check.person_id is not None:
                _log_read(
                    s,
                    node=node,
                    sender=row.sender,
                    check=check,
                    case_ref=row.case_ref,
                    viewer=(reviewer.id, "reviewer", reviewer.division, reviewer.office),
                )
            if check.refusal is not None:
                raise Conflict(
                    N_("The register does not support this certificate ({reason}): refuse it with a reason"),
                    reason=check.refusal.value,
                )
            assert check.subject is not None and check.facts is not None and check.division_code is not None
            paper = issue_paper(
                s,
                node=node,
                actor=reviewer.id,
                type=kind.paper_type,
                subject=check.subject,
                facts=check.facts,
                valid_until=None,
                purpose=row.purpose,
                division_code=check.division_code,
                subject_ref=str(check.person_id),
            )
            paper_number = paper.number
            outcome = {"outcome": "issued", "paper": forms.to_json_bytes(paper.signed).decode("utf-8")}
            row.state, row.paper_number = store.ISSUED, paper_number
            action = TaskAction.COMPLETE
        else:
            assert refusal is not None
            outcome = {"outcome": "refused", "reason": refusal}
            row.state, row.reason = store.REFUSED, refusal.value
            action = TaskAction.REJECT
        row.id_number, row.decided_by, row.decided_at = None, reviewer.id, now
        task = cases_store.load_task(s, task_ref)
        task.obj.apply(action, now=now, actor=reviewer.id, reason=paper_number or row.reason)
        cases_store.save_task(s, task)
        record_audit(
            s,
            actor=reviewer.id,
            action="cert.review.decide",
            object_type="case",
            object_id=f"{row.sender}/{row.case_ref}",
            change={
                "kind": kind.value,
                "outcome": outcome["outcome"],
                "reason": row.reason,
                "paper": paper_number,
            },
            at=now,
        )
        _answer_to(
            s,
            node=node,
            recipient=row.sender,
            case_ref=row.case_ref,
            request_hash=row.request_hash,
            consent_ref=row.consent_ref,
            **outcome,
        )
        s.flush()
        s.expunge(row)
    return row


types.register(REQUEST_TYPE, CertRequest, personal=True)
types.register(RESULT_TYPE, CertResult, personal=True)
register_handler(REQUEST_TYPE, apply_request)
register_handler(RESULT_TYPE, apply_result)
on_answer(route_on_answer)
