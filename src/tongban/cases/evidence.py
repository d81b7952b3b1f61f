"""Evidence requests across nodes: a registry extract looked up at another node, under the applicant's consent.

At the requesting node (A): ``materials.request_evidence`` records the request referencing the applicant's
recorded consent and, through ``ExchangeEvidenceTransport``, enqueues ``cases.evidence.request.v1`` in the
same transaction. ``apply_result`` applies ``cases.evidence.result.v1``: the extract becomes a looked-up
material of the case (``LookedUpMaterialRow``), or the request is marked refused with the reason.

At the answering node (B): ``apply_request`` checks the consent reference, looks the person up in its own
registry, logs the read of the person's record with the case as the reason (``access.store.add_views``),
audits the answer and enqueues the result (the extract, or a refusal with its reason), all in the exchange's
apply transaction.

Both types carry personal data (an ID number, a name, an address): the exchange encrypts their bodies to the
recipient's encryption key from the directory, as it does for CERT; routing fields (case and consent
references) carry none. An extract is what the register says, never a photocopy of a document.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.access.store import add_views
from tongban.audit.service import record_audit
from tongban.cases import store as cases_store
from tongban.cases.tables import EvidenceRequestRow, LookedUpMaterialRow
from tongban.cases.window import applicant_ref
from tongban.core.i18n import N_, gettext
from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash, types
from tongban.exchange.service import Incoming, enqueue, register_handler
from tongban.exchange.tables import OutboxRow
from tongban.registry import store as registry
from tongban.registry.domain import RegistrationStatus

log = logging.getLogger("tongban.cases.evidence")

REQUEST_TYPE = "cases.evidence.request.v1"
RESULT_TYPE = "cases.evidence.result.v1"
ID_NUMBER = r"^[0-9]{17}[0-9X]$"

# Request states at the requesting node.
QUEUED = "queued"
WAITING = "waiting_for_exchange"
RECEIVED = "received"
REFUSED = "refused"


class EvidenceRefusal(StrEnum):
    """Why an answering node gives no extract (codes travel; texts are translated where they are shown)."""

    CONSENT_MISSING = "consent-missing"
    NOT_REGISTERED = "not-registered"
    NOT_HELD = "not-held"

    @property
    def text(self) -> str:
        return REFUSAL_TEXTS[self]

    def translated(self, locale: str) -> str:
        return gettext(locale, REFUSAL_TEXTS[self])


REFUSAL_TEXTS: dict[EvidenceRefusal, str] = {
    EvidenceRefusal.CONSENT_MISSING: N_("the applicant's consent is missing"),
    EvidenceRefusal.NOT_REGISTERED: N_("the person is not in this registry"),
    EvidenceRefusal.NOT_HELD: N_("this registry does not hold that material"),
}


STATUS_LABELS: dict[str, str] = {
    "active": N_("registered here"),
    "in_transit": N_("in transit (moved out, not yet moved in)"),
    "moved_out": N_("moved out to another province"),
    "cancelled": N_("registration cancelled"),
    "deceased": N_("deceased"),
}
RELATION_LABELS: dict[str, str] = {
    "head": N_("head of household"),
    "spouse": N_("spouse"),
    "child": N_("child"),
    "child_in_law": N_("child's spouse"),
    "grandchild": N_("grandchild"),
    "parent": N_("parent"),
    "parent_in_law": N_("spouse's parent"),
    "grandparent": N_("grandparent"),
    "sibling": N_("sibling"),
    "other_relative": N_("other relative"),
    "non_relative": N_("non-relative"),
    "collective_member": N_("member of a collective household"),
}
STATE_LABELS: dict[str, str] = {
    QUEUED: N_("requested, waiting for the answer"),
    WAITING: N_("waiting for the exchange"),
    RECEIVED: N_("looked up"),
    REFUSED: N_("refused"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceAsk(_Strict):
    """``cases.evidence.request.v1``, requesting node -> answering node (travels encrypted)."""

    request_id: str = Field(min_length=36, max_length=36)
    case_ref: str = Field(min_length=1, max_length=64)
    consent_ref: str = Field(min_length=1, max_length=64)
    consent_purpose: str = Field(min_length=1, max_length=64)
    consent_granted_at: datetime
    material: str = Field(min_length=1, max_length=64)
    registry: str = Field(min_length=1, max_length=32)
    id_number: str = Field(pattern=ID_NUMBER)


class HukouExtract(_Strict):
    """What the register says about a person: an extract, never a photocopy."""

    name: str = Field(max_length=64)
    id_number: str = Field(pattern=ID_NUMBER)
    status: RegistrationStatus
    since: date
    household_number: str | None = Field(default=None, max_length=20)
    household_kind: str | None = Field(default=None, max_length=10)
    address: str | None = Field(default=None, max_length=200)
    division_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    relation: str | None = Field(default=None, max_length=20)  # to the head of household
    as_of: datetime


class EvidenceAnswer(_Strict):
    """``cases.evidence.result.v1``, answering node -> requesting node: the extract or a refusal.
    ``request_hash`` repeats the envelope's ``in_reply_to`` (the hash of the request's bytes)."""

    request_id: str = Field(min_length=36, max_length=36)
    case_ref: str = Field(min_length=1, max_length=64)
    request_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    outcome: Literal["found", "refused"]
    extract: HukouExtract | None = None
    reason: EvidenceRefusal | None = None


# -- at the requesting node ------------------------------------------------------------------------------


class ExchangeEvidenceTransport:
    """The exchange as ``materials.EvidenceTransport``: the request goes into the outbox in the caller's
    transaction. Used whenever the node has an exchange and no other transport is set."""

    def __init__(self, node: NodeContext) -> None:
        self.node = node

    def __call__(
        self, s: Session, *, recipient: str, body: dict[str, object], case_ref: str, consent_ref: str
    ) -> str:
        eid = enqueue(
            s,
            node=self.node,
            recipient=recipient,
            type=REQUEST_TYPE,
            body=dict(body),
            case_ref=case_ref,
            consent_ref=consent_ref,
        )
        return str(eid)


def sent_hash(s: Session, envelope_id: str | None) -> str | None:
    """The hash of a request envelope just written to the outbox (None for another transport)."""
    if envelope_id is None:
        return None
    # Usually still pending in this session (enqueue adds it): read it there rather than flush to look it up.
    row = next((o for o in s.new if isinstance(o, OutboxRow) and o.id == envelope_id), None)
    if row is None:
        row = s.get(OutboxRow, envelope_id)
    return None if row is None else envelope_hash(row.raw)


def apply_result(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``cases.evidence.result.v1``: attach the extract as a looked-up material, or record the refusal."""
    answer = incoming.message
    assert isinstance(answer, EvidenceAnswer)
    env = incoming.envelope
    if env.in_reply_to != answer.request_hash:
        raise ValueError("an evidence result names the hash of its request")
    row = session.get(EvidenceRequestRow, answer.request_id)
    if row is None or row.target_node != env.sender or row.request_hash != answer.request_hash:
        raise ValueError("an evidence result for no request sent to its sender")
    loaded = cases_store.load_case_by_id(session, row.case_id)
    if loaded.obj.number != answer.case_ref:
        raise ValueError("an evidence result for another case")
    if row.state != QUEUED:
        return  # already answered (the exchange applies once; this keeps a replayed answer harmless)
    now = node.clock.now()
    if answer.outcome == "found":
        extract = answer.extract
        if extract is None:
            raise ValueError("a found result carries its extract")
        if applicant_ref(node, extract.id_number) != row.subject_ref:
            raise ValueError("the extract is about another person than the one asked for")
        session.add(
            LookedUpMaterialRow(
                case_id=row.case_id,
                request_id=row.id,
                material=row.material,
                source_node=env.sender,
                subject_ref=row.subject_ref,
                record=extract.model_dump(mode="json"),
                looked_up_at=now,
            )
        )
        row.state = RECEIVED
    else:
        if answer.reason is None:
            raise ValueError("a refusal carries its reason")
        row.state, row.reason = REFUSED, answer.reason.value
    row.answered_at = now
    record_audit(
        session,
        actor=f"node:{env.sender}",
        action="cases.evidence.receive",
        object_type="case",
        object_id=loaded.obj.number,
        change={"request": row.id, "material": row.material, "outcome": answer.outcome, "reason": row.reason},
        at=now,
    )


# -- at the answering node -------------------------------------------------------------------------------


def look_up(
    s: Session, id_number: str, *, now: datetime
) -> tuple[int | None, str | None, HukouExtract | None]:
    """The person's registry id, division and extract (ids None when the register does not know them)."""
    person = registry.person_by_id_number(s, id_number)
    if person is None:
        return None, None, None
    state = registry.state_of(s, person.id)
    if state is None:
        return person.id, None, None
    household = None if state.household_id is None else registry.household_by_id(s, state.household_id)
    membership = registry.open_membership(s, person.id)
    extract = HukouExtract(
        name=person.name,
        id_number=person.id_number,
        status=RegistrationStatus(state.status),
        since=state.since,
        household_number=None if household is None else household.number,
        household_kind=None if household is None else household.kind,
        address=None if household is None else household.address,
        division_code=state.division_code or (None if household is None else household.division_code),
        relation=None if membership is None else membership.relation,
        as_of=now,
    )
    return person.id, extract.division_code, extract


def apply_request(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``cases.evidence.request.v1``: check the consent reference and the register, log the read, answer."""
    ask = incoming.message
    assert isinstance(ask, EvidenceAsk)
    env = incoming.envelope
    if env.case_ref != ask.case_ref:
        raise ValueError("the request's case differs from its envelope's")
    now = node.clock.now()
    fields: dict[str, Any]
    person_id: int | None = None
    if (
        env.consent_ref is None
        or env.consent_ref != ask.consent_ref
        or ask.consent_granted_at > env.created_at
    ):
        # Nothing is read without the applicant's consent, given before the request.
        fields = {"outcome": "refused", "reason": EvidenceRefusal.CONSENT_MISSING}
    elif ask.registry != "hukou":
        fields = {"outcome": "refused", "reason": EvidenceRefusal.NOT_HELD}
    else:
        person_id, division, extract = look_up(session, ask.id_number, now=now)
        if person_id is not None:
            add_views(
                session,
                [
                    {
                        "at": now,
                        "viewer_id": f"node:{env.sender}",
                        "viewer_role": "exchange",
                        "viewer_division": None,
                        "viewer_office": None,
                        "person_ref": str(person_id),
                        "person_division": division,
                        "reason": "case",
                        "reason_ref": f"{env.sender}/{ask.case_ref}"[:64],
                        "action": "cases.evidence.answer",
                    }
                ],
            )
        if extract is None:
            fields = {"outcome": "refused", "reason": EvidenceRefusal.NOT_REGISTERED}
        else:
            fields = {"outcome": "found", "extract": extract}
    record_audit(
        session,
        actor=f"node:{env.sender}",
        action="cases.evidence.answer",
        object_type="case",
        object_id=f"{env.sender}/{ask.case_ref}"[:64],
        change={
            "request": ask.request_id,
            "material": ask.material,
            "consent": ask.consent_ref,
            "outcome": fields["outcome"],
            "reason": None if fields.get("reason") is None else str(fields["reason"]),
            "person": None if person_id is None else str(person_id),
        },
        at=now,
    )
    request_hash = envelope_hash(env.raw)
    answer = EvidenceAnswer(
        request_id=ask.request_id, case_ref=ask.case_ref, request_hash=request_hash, **fields
    )
    enqueue(
        session,
        node=node,
        recipient=env.sender,
        type=RESULT_TYPE,
        body=answer.model_dump(mode="json"),
        case_ref=ask.case_ref,
        consent_ref=env.consent_ref,
        in_reply_to=request_hash,
    )


# -- reading ---------------------------------------------------------------------------------------------


def requests_of(
    node: NodeContext, *, case_number: str
) -> list[tuple[EvidenceRequestRow, dict[str, Any] | None]]:
    """The case's evidence requests, oldest first, each with its looked-up extract when one arrived."""
    with node.db.session() as s:
        loaded = cases_store.load_case(s, case_number)
        rows = list(
            s.scalars(
                select(EvidenceRequestRow)
                .where(EvidenceRequestRow.case_id == loaded.id)
                .order_by(EvidenceRequestRow.created_at, EvidenceRequestRow.id)
            )
        )
        found = {
            m.request_id: m.record
            for m in s.scalars(select(LookedUpMaterialRow).where(LookedUpMaterialRow.case_id == loaded.id))
        }
        for r in rows:
            s.expunge(r)
        return [(r, found.get(r.id)) for r in rows]


types.register(REQUEST_TYPE, EvidenceAsk, personal=True)
types.register(RESULT_TYPE, EvidenceAnswer, personal=True)
register_handler(REQUEST_TYPE, apply_request)
register_handler(RESULT_TYPE, apply_result)
