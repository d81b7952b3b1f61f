"""CERT use cases across two nodes, over the exchange.

At the accepting node (A): ``accept_certificate`` accepts the case at the window, records the applicant's
consent, routes the request to the hukou node (B) and enqueues ``cert.request.v1``, all in one transaction.
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
from tongban.cases.domain import CaseRef, CaseState, Task
from tongban.cases.service import cases_setup
from tongban.cases.tables import CaseWindowRow, ConsentRow
from tongban.cert import store
from tongban.cert.domain import (
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
from tongban.cert.tables import CertRequestRow
from tongban.core.errors import InvalidInput
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash, types
from tongban.exchange.locator import id_digest, locator_key
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


def route_for(session: Session, *, node: NodeContext, id_number: str) -> tuple[str, str]:
    """The hukou node of a person and how it was found: ``locator`` or ``id-prefix``.

    The locator's newest answer about this person is preferred. Without one, routing falls back to the
    provincial prefix of the ID number.
    TODO(DESIGN.md "Directory, keys, locator": "Routing is by the current hukou division, never by the ID
    number's prefix"): the fallback is wrong for everyone who moved province since their number was given;
    ask the locator at acceptance (``ask_locator`` in this transaction) and send the request on its answer.
    """
    try:
        digest = id_digest(locator_key(exchange_of(node).directory.data_dir), id_number)
    except OSError:
        digest = None
    if digest is not None:
        answer = session.scalars(
            select(LocatorAnswerRow)
            .where(LocatorAnswerRow.digest == digest)
            .order_by(LocatorAnswerRow.seq.desc())
            .limit(1)
        ).first()
        if answer is not None and answer.node is not None and answer.status != "unknown":
            return answer.node, "locator"
    return id_number[:2] + "0000", "id-prefix"


# -- at the accepting node -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertCase:
    number: str
    recipient: str
    routed_by: str
    consent_ref: str
    state: str


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
    """Enqueue ``cert.request.v1`` for a case, in the caller's transaction, and remember its hash."""
    body = CertRequest(
        case_ref=case_number,
        kind=kind,
        id_number=id_number,
        consent_ref=consent_ref,
        purpose=purpose,
        facts=facts,
    )
    eid = enqueue(
        session,
        node=node,
        recipient=recipient,
        type=REQUEST_TYPE,
        body=body.model_dump(mode="json"),
        case_ref=case_number,
        consent_ref=consent_ref,
    )
    out = session.get(OutboxRow, str(eid))
    assert out is not None
    row = CertRequestRow(
        case_number=case_number,
        kind=kind.value,
        recipient=recipient,
        routed_by=routed_by,
        envelope_id=str(eid),
        request_hash=envelope_hash(out.raw),
        consent_ref=consent_ref,
        state=store.SENT,
        created_at=node.clock.now(),
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
) -> CertCase:
    """Accept a CERT case at the window with the applicant's consent and send the request to the hukou node,
    in one transaction (case, window record, consent, audit rows, acceptance message, outbox row)."""
    kind = CertKind(kind)
    purpose = purpose.strip()
    if not purpose or len(purpose) > 100:
        raise InvalidInput(N_("A certificate request names its purpose (up to 100 characters)"))
    facts = facts or RequestedFacts()
    holder: dict[str, CertCase] = {}

    def then(s: Session, case_id: int, case: Any) -> None:
        recipient, routed_by = route_for(s, node=node, id_number=applicant.id_number)
        if recipient == node.code:
            raise InvalidInput(
                N_("The applicant is registered in this province: the certificate is issued here")
            )
        if exchange_of(node).directory.current.node(recipient) is None:
            raise InvalidInput(N_("No node serves the applicant's hukou locality {code}"), code=recipient)
        now = node.clock.now()
        consent_ref = str(uuid.uuid4())
        s.add(
            ConsentRow(
                id=consent_ref,
                case_id=case_id,
                purpose=consent_purpose,
                granted_at=now,
                recorded_by=actor.id,
                channel="window",
            )
        )
        record_audit(
            s,
            actor=actor.id,
            action="cases.consent.record",
            object_type="case",
            object_id=case.number,
            change={"consent": consent_ref, "purpose": consent_purpose, "channel": "window"},
            at=now,
        )
        request_certificate(
            s,
            node=node,
            case_number=case.number,
            kind=kind,
            id_number=applicant.id_number,
            purpose=purpose,
            facts=facts,
            consent_ref=consent_ref,
            recipient=recipient,
            routed_by=routed_by,
        )
        record_audit(
            s,
            actor=actor.id,
            action="cert.request.send",
            object_type="case",
            object_id=case.number,
            change={"kind": kind.value, "recipient": recipient, "routed_by": routed_by},
            at=now,
        )
        holder["case"] = CertCase(case.number, recipient, routed_by, consent_ref, store.SENT)

    window.accept(node, actor=actor, matter=MATTER, applicant=applicant, then=then)
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
    request_hash = envelope_hash(incoming.envelope.raw)
    body = CertResult(case_ref=request.case_ref, request_hash=request_hash, **fields)
    enqueue(
        session,
        node=node,
        recipient=incoming.envelope.sender,
        type=RESULT_TYPE,
        body=body.model_dump(mode="json"),
        case_ref=request.case_ref,
        consent_ref=incoming.envelope.consent_ref,
        in_reply_to=request_hash,
    )


def _log_read(session: Session, *, node: NodeContext, sender: str, check: Check, case_ref: str) -> None:
    """The read of the person's record, in the person's access records, with the case as the reason."""
    assert check.person_id is not None
    add_views(
        session,
        [
            {
                "at": node.clock.now(),
                "viewer_id": f"node:{sender}",
                "viewer_role": "exchange",
                "viewer_division": None,
                "viewer_office": None,
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
        elif cases_setup(node).catalog.get(MATTER).allows_automatic:
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
            task_ref = _reviewer_task(session, node=node, sender=sender, case_ref=request.case_ref)
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


types.register(REQUEST_TYPE, CertRequest, personal=True)
types.register(RESULT_TYPE, CertResult, personal=True)
register_handler(REQUEST_TYPE, apply_request)
register_handler(RESULT_TYPE, apply_result)
