"""The migration saga at the destination (迁入地), which owns the case; use cases for the API and the pages.

Every use case is one transaction: the case event, the saga's state, the paper, the registry change, the
audit rows, the applicant's notification and the outgoing message commit together or not at all.

- ``accept_migration``: accept the case at the window with the applicant's consent and commitment, mark the
  person's migration open here (a second one is refused), decide the local policy and keep the decision;
- ``approve``: issue the move-in permit (``subject_ref`` = the case number) and send ``mig.permit.v1``;
- ``refuse`` (before the permit), ``withdraw`` (before the permit a cancel, after it a compensation: a signed
  ``mig.abandon.v1``), ``abandon`` (the destination gives up after the permit), ``request_reissue``;
- ``move_in``: register the person into the chosen household (journal ``case_ref`` = the case number),
  complete the case and send ``mig.settled.v1``;
- handlers of ``mig.certificate.v1`` and ``mig.refused.v1``.

The origin's side is ``tongban.migration.origin``; same-city moves ``samecity``; identity checks ``identity``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tongban.cases import store as cases_store
from tongban.cases import window
from tongban.cases.calendar import local_date
from tongban.cases.domain import CaseState
from tongban.cases.evidence import sent_hash
from tongban.cases.service import cases_setup, parse_facts, policy_for
from tongban.cases.tables import ConsentRow
from tongban.core import batching
from tongban.core.errors import Conflict, InvalidInput, NotFound, TongbanError
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.exchange.domain import types
from tongban.exchange.service import (
    Incoming,
    enqueue,
    exchange_of,
    register_group_handler,
    register_handler,
)
from tongban.migration import origin, store
from tongban.migration.common import audit, notify_applicant, settings_of, verified
from tongban.migration.domain import (
    ABANDON_TYPE,
    CERTIFICATE_PAPER,
    CERTIFICATE_TYPE,
    DEST_OPEN,
    MATTERS,
    PERMIT_PAPER,
    PERMIT_TYPE,
    REFUSAL_TEXTS,
    REFUSED_TYPE,
    REISSUE_TYPE,
    SETTLED_TYPE,
    AbandonMessage,
    CertificateMessage,
    DestAction,
    DestState,
    PermitMessage,
    Refusal,
    RefusedMessage,
    ReissueMessage,
    SettledMessage,
    next_dest,
)
from tongban.migration.tables import MigrationCaseRow
from tongban.papers import forms
from tongban.papers.service import issue_paper
from tongban.registry import service as registry
from tongban.registry import store as registry_store
from tongban.registry.queries import find_household

MIG_ACCEPTED_NOT_ELIGIBLE = N_("Case {number}: the local settlement policy is not met: {explanation}")
MIG_APPROVED = N_("Case {number}: the move-in is approved; the permit {paper} was sent to the origin.")
MIG_MOVED_OUT = N_(
    "Case {number}: the origin moved you out (migration certificate {paper}, valid until {until}); "
    "the move-in will be registered here."
)
MIG_SETTLED = N_("Case {number}: the move-in is registered in household {household}.")
MIG_REFUSED = N_("Case {number}: the migration was refused: {reason}.")
MIG_WITHDRAWN = N_("Case {number}: the migration was withdrawn; your registration at the origin stays.")
MIG_ABANDONED = N_("Case {number}: the migration was abandoned; the origin restores your registration.")

T = TypeVar("T")

COMMITMENT_PURPOSE = "migration: notice and commitment signed; hukou record for the move"


@dataclass(frozen=True)
class MigrationView:
    """A migration case as the API and the pages show it (the case itself through ``cases.window``)."""

    number: str
    matter: str
    origin: str
    routed_by: str
    state: str
    case_state: str
    close_reason: str | None
    eligible: bool | None
    explanation: str | None
    household_number: str | None
    permit_number: str | None
    certificate_number: str | None
    certificate_valid_until: datetime | None
    reason: str | None
    reason_text: str | None
    note: str | None


def view_of(node: NodeContext, s: Session, row: MigrationCaseRow, locale: str) -> MigrationView:
    from tongban.cases.policy import Decision

    case = cases_store.load_case(s, row.case_number).obj
    decision = case.decision
    reason_text = None
    if row.reason is not None:
        try:
            reason_text = Refusal(row.reason).translated(locale)
        except ValueError:
            reason_text = row.reason
    return MigrationView(
        number=row.case_number,
        matter=row.matter,
        origin=row.origin,
        routed_by=row.routed_by,
        state=row.state,
        case_state=case.state.value,
        close_reason=case.close_reason.value if case.close_reason else None,
        eligible=None if decision is None else bool(decision.get("eligible")),
        explanation=Decision.from_dict(decision).explain(locale) if decision else None,
        household_number=row.household_number,
        permit_number=row.permit_number,
        certificate_number=row.certificate_number,
        certificate_valid_until=row.certificate_valid_until,
        reason=row.reason,
        reason_text=reason_text,
        note=row.note,
    )


def get_migration(node: NodeContext, *, number: str, locale: str = "zh_CN") -> MigrationView:
    """The migration case ``number`` of this (destination) node."""
    with node.db.session() as s:
        row = store.case_row(s, number)
        if row is None:
            raise NotFound(N_("No migration case {number} here"), number=number)
        return view_of(node, s, row, locale)


def list_migrations(
    node: NodeContext, *, states: list[DestState] | None = None, locale: str = "zh_CN", limit: int = 200
) -> list[MigrationView]:
    wanted = [x.value for x in (states or list(DestState))]
    with node.db.session() as s:
        return [view_of(node, s, r, locale) for r in store.cases_in(s, wanted, limit=limit)]


def certificates_nearing_expiry(node: NodeContext, *, within_days: int | None = None) -> list[str]:
    """Case numbers whose migration certificate ends within ``within_days`` (default: the node's setting)
    and whose move-in is not registered: settle now, ask for a reissue, or abandon."""
    days = settings_of(node).reissue_within_days if within_days is None else within_days
    before = node.clock.now() + timedelta(days=days)
    with node.db.session() as s:
        return [r.case_number for r in store.certificates_ending(s, before=before)]


# -- routing ---------------------------------------------------------------------------------------------


def ask_locator_first(node: NodeContext, *, id_number: str) -> tuple[str, str] | None:
    """Before accepting, where no origin is given: ask the national locator (when the directory has one) and
    wait up to ``MigrationSettings.locator_wait_s``. A person in transit is refused at once (``Conflict``
    naming the owning case); a registered person is routed to the node registering them; no answer in time
    leaves the routing to ``route_origin``."""
    from tongban.exchange.locator import LOCATOR_CODE
    from tongban.migration import identity

    if exchange_of(node).directory.current.node(LOCATOR_CODE) is None:
        return None
    found = identity.check(node, id_number=id_number, timeout_s=settings_of(node).locator_wait_s)
    if found is None:
        return None
    if found.status == "in_transit":
        raise Conflict(
            N_("The person is in transit in another migration: case {number}"), number=found.case_ref or ""
        )
    if found.status == "registered" and found.node:
        return found.node, "locator"
    return None


def route_origin(s: Session, node: NodeContext, *, id_number: str, origin: str | None) -> tuple[str, str]:
    """The origin node: the one given (the applicant's household booklet names it), else the locator's newest
    answer about the person. Never the ID number's provincial prefix (DESIGN.md: routing is by the current
    hukou division): without either, acceptance is refused with a clear error and nothing is kept."""
    if origin is not None:
        return origin, "given"
    from tongban.exchange.locator import id_digest, locator_key
    from tongban.exchange.tables import LocatorAnswerRow

    try:
        digest = id_digest(locator_key(exchange_of(node).directory.data_dir), id_number)
    except OSError:
        digest = None
    if digest is not None:
        answer = s.scalars(
            select(LocatorAnswerRow)
            .where(LocatorAnswerRow.digest == digest)
            .order_by(LocatorAnswerRow.seq.desc())
            .limit(1)
        ).first()
        if answer is not None and answer.node is not None and answer.status == "registered":
            return answer.node, "locator"
    raise InvalidInput(
        N_(
            "The national locator has not told where the applicant is registered: name the origin from "
            "the household booklet, or try again shortly"
        )
    )


# -- accept ----------------------------------------------------------------------------------------------


def accept_migration(
    node: NodeContext,
    *,
    actor: window.Actor,
    applicant: window.Applicant,
    name: str,
    matter: str,
    facts: Mapping[str, Any],
    household_number: str,
    relation: str,
    origin_address: str,
    origin_division: str | None = None,
    origin: str | None = None,
    commitment_signed: bool = True,
    channel: str = "window",
) -> MigrationView:
    """Accept a migration case at the destination's window (or online), in one transaction: the case and its
    window record, the consent and signed commitment, the open-migration mark of the person (``Conflict``
    while another migration of the person is open here), the chosen household's check, and the local policy's
    decision with the rules and facts that produced it (kept with the case; an unmet policy is explained to
    the applicant, and the reviewer then refuses). ``channel``: ``window`` (a clerk) or ``online`` (the
    applicant on the portal, accepting office ``online``: see docs/migration.md)."""
    request = MigrationRequest(
        applicant=applicant,
        name=name,
        matter=matter,
        facts=facts,
        household_number=household_number,
        relation=relation,
        origin_address=origin_address,
        origin=origin,
        origin_division=origin_division,
        commitment_signed=commitment_signed,
    )
    _, view = _accept(node, None, actor=actor, request=request, want_view=True, channel=channel)
    assert view is not None
    return view


def _accept(
    node: NodeContext,
    session: Session | None,
    *,
    actor: window.Actor,
    request: MigrationRequest,
    want_view: bool,
    channel: str = "window",
) -> tuple[str, MigrationView | None]:
    """``accept_migration`` in the caller's transaction (``session``) or its own; the case number, and its
    view when asked for."""
    item, numbered, holder = _acceptance(
        node, actor=actor, request=request, want_view=want_view, channel=channel
    )
    window.accept(
        node, actor=item.actor, matter=item.matter, applicant=item.applicant, then=item.then, session=session
    )
    return numbered[0], holder.get("view")


def _acceptance(
    node: NodeContext,
    *,
    actor: window.Actor,
    request: MigrationRequest,
    want_view: bool,
    channel: str = "window",
    households: Mapping[str, Any] | None = None,
) -> tuple[window.WindowAcceptance, list[str], dict[str, MigrationView]]:
    """An application checked, as the window's acceptance whose ``then`` writes the migration case; the
    list its case number goes into, and the dict its view goes into (when asked for). ``households``: the
    destination households a batch read at once, by number."""
    applicant, name, matter, facts = request.applicant, request.name, request.matter, request.facts
    household_number, relation, origin = request.household_number, request.relation, request.origin
    origin_address, origin_division = request.origin_address, request.origin_division
    commitment_signed = request.commitment_signed
    if channel not in ("window", "online"):
        raise InvalidInput(N_("Unknown channel {channel}"), channel=channel)
    if matter not in MATTERS:
        raise InvalidInput(N_("{code} is not a migration matter"), code=matter)
    if not commitment_signed:
        raise InvalidInput(N_("The applicant signs the notice and commitment before a migration is accepted"))
    if not name.strip() or len(name) > 64:
        raise InvalidInput(N_("The applicant's name has 1 to 64 characters"))
    origin_address = origin_address.strip()
    if not origin_address or len(origin_address) > 200:
        raise InvalidInput(N_("The address at the origin has 1 to 200 characters"))
    typed = parse_facts(facts)
    setup = cases_setup(node)
    m = setup.catalog.get(matter)
    holder: dict[str, MigrationView] = {}
    numbered: list[str] = []
    located = ask_locator_first(node, id_number=applicant.id_number) if origin is None else None

    def then(s: Session, case_id: int, case: Any) -> None:
        now = node.clock.now()
        # A second open migration of the person is the clearer answer, before any routing question.
        ref = window.applicant_ref(node, applicant.id_number)
        other = store.try_open(s, person_ref=ref, case_number=case.number, role="destination", now=now)
        if other is not None:
            raise Conflict(N_("Another migration of this person is open: case {number}"), number=other)
        if located is not None:
            target, routed_by = located
        else:
            target, routed_by = route_origin(s, node, id_number=applicant.id_number, origin=origin)
        if target == node.code:
            raise InvalidInput(
                N_("The applicant is registered in this province: use a move within the province")
            )
        if exchange_of(node).directory.current.node(target) is None:
            raise InvalidInput(N_("No node serves the applicant's hukou locality {code}"), code=target)
        division = origin_division or applicant.id_number[:6]
        if not (len(division) == 6 and division.isdigit() and division[:2] == target[:2]):
            division = target
        found = households.get(household_number) if households is not None else None
        household = found if found is not None else find_household(s, household_number)
        consent_ref = str(uuid.uuid4())
        s.add(
            ConsentRow(
                id=consent_ref,
                case_id=case_id,
                purpose=COMMITMENT_PURPOSE[:64],
                granted_at=now,
                recorded_by=actor.id,
                channel=channel,
            )
        )
        loaded = cases_store.just_added(case, case_id)
        policy = policy_for(node, locality=household.division_code, day=local_date(now))
        decision = policy.decide(matter=m.code, rule_keys=m.rule_keys(case.procedure), facts=typed)
        loaded.obj.record_decision(decision=decision.to_dict(), now=now, actor=actor.id)
        cases_store.save_case(s, loaded)
        row = MigrationCaseRow(
            case_number=case.number,
            matter=m.code,
            origin=target,
            routed_by=routed_by,
            id_number=applicant.id_number,
            person_ref=ref,
            state=DestState.ACCEPTED.value,
            household_number=household.number,
            relation=relation,
            destination_division=household.division_code,
            destination_address=household.address,
            origin_division=division,
            origin_address=origin_address,
            consent_ref=consent_ref,
            record={"name": name.strip()},
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        audit(
            s,
            actor=actor.id,
            action="migration.case.accept",
            number=case.number,
            change={
                "matter": m.code,
                "origin": target,
                "routed_by": routed_by,
                "consent": consent_ref,
                "eligible": decision.eligible,
                "policy": decision.policy_version,
            },
            now=now,
        )
        if not decision.eligible:
            notify_applicant(
                s,
                case_id=case_id,
                number=case.number,
                key="not-eligible",
                message=MIG_ACCEPTED_NOT_ELIGIBLE,
                params={
                    "number": case.number,
                    "explanation": {
                        "zh_CN": decision.explain("zh_CN"),
                        "en": decision.explain("en"),
                    },
                },
                now=now,
            )
        numbered.append(case.number)
        if want_view:
            s.flush()
            holder["view"] = view_of(node, s, row, applicant.locale)

    return window.WindowAcceptance(actor, matter, applicant, then=then), numbered, holder


def _accept_all(
    s: Session, node: NodeContext, *, actor: window.Actor, requests: Sequence[MigrationRequest]
) -> list[str]:
    """``accept_migrations``' batch pass: the applicants' open marks and the destination households read once
    for all, the cases added together, then each case's writes (one insert per table at the pass's end)."""
    store.read_open_marks(s, [window.applicant_ref(node, r.applicant.id_number) for r in requests])
    numbers = sorted({r.household_number for r in requests})
    households = {h.number: h for h in registry_store.households_by_number(s, numbers)}
    items: list[window.WindowAcceptance] = []
    numbered: list[list[str]] = []
    for r in requests:
        item, number, _ = _acceptance(node, actor=actor, request=r, want_view=False, households=households)
        items.append(item)
        numbered.append(number)
    window.accept_many(node, items, session=s)
    return [number[0] for number in numbered]


# -- the destination's decisions -------------------------------------------------------------------------


@dataclass
class _Prefetched:
    """What a batch's steps read of each case (its row, locked; the case with its events; the applicant's
    window record), read for all its cases in four statements before its first pass."""

    rows: dict[str, MigrationCaseRow]
    cases: dict[str, Any]
    windows: list[Any]  # kept referenced, so that the session's identity map answers notify_applicant's get

    @classmethod
    def read(cls, s: Session, numbers: Sequence[str]) -> _Prefetched:
        rows = store.case_rows(s, numbers, lock=True)
        cases = cases_store.load_cases(s, list(rows))
        return cls(rows, cases, cases_store.window_rows(s, [c.id for c in cases.values()]))

    def get(self, number: str) -> tuple[MigrationCaseRow, Any] | None:
        row, loaded = self.rows.get(number), self.cases.get(number)
        return (row, loaded) if row is not None and loaded is not None else None


def _loaded(s: Session, number: str, pre: _Prefetched | None = None) -> tuple[MigrationCaseRow, Any]:
    if pre is not None and (found := pre.get(number)) is not None:
        return found
    row = store.case_row(s, number, lock=True)
    if row is None:
        raise NotFound(N_("No migration case {number} here"), number=number)
    return row, cases_store.load_case(s, number)


def _step(row: MigrationCaseRow, action: DestAction, now: datetime) -> DestState:
    target = next_dest(DestState(row.state), action, number=row.case_number)
    row.state, row.updated_at = target.value, now
    return target


def approve(node: NodeContext, *, actor: window.Actor, number: str) -> MigrationView:
    """The destination approves: the move-in permit is issued (``subject_ref`` = the case number, valid for
    the local policy's period) and sent to the origin as ``mig.permit.v1``, in one transaction."""
    with node.db.transaction() as s:
        return view_of(node, s, _approve(s, node, actor=actor, number=number), "zh_CN")


def _to_origin(
    s: Session, node: NodeContext, row: MigrationCaseRow, type_: str, body: BaseModel
) -> uuid.UUID:
    """A saga message to the case's origin, in the caller's transaction, under the applicant's consent."""
    return enqueue(
        s,
        node=node,
        recipient=row.origin,
        type=type_,
        body=body.model_dump(mode="json"),
        case_ref=row.case_number,
        consent_ref=row.consent_ref,
    )


def _approve(
    s: Session, node: NodeContext, *, actor: window.Actor, number: str, pre: _Prefetched | None = None
) -> MigrationCaseRow:
    setup = cases_setup(node)
    now = node.clock.now()
    row, loaded = _loaded(s, number, pre)
    case = loaded.obj
    if row.state == DestState.ACCEPTED.value and case.decision and not case.decision.get("eligible"):
        raise Conflict(N_("Case {number}: the local policy is not met; refuse it instead"), number=number)
    # Checked now, written with the permit's fields below: one UPDATE of the row, not one per autoflush.
    target = next_dest(DestState(row.state), DestAction.APPROVE, number=row.case_number)
    if case.state is CaseState.ACCEPTED:
        case.start(now=now, actor=actor.id)
    m = setup.catalog.get(row.matter)
    policy = policy_for(node, locality=row.destination_division, day=local_date(now))
    ref = m.validity.get("move_in_permit")
    limit = ref.resolve(policy) if ref is not None else policy.limit("mig.permit_validity")
    permit = issue_paper(
        s,
        node=node,
        actor=actor.id,
        type=PERMIT_PAPER,
        subject={"name": (row.record or {}).get("name", ""), "id_number": row.id_number},
        facts={
            "matter": row.matter,
            "case_ref": number,
            "origin_division": row.origin_division,
            "origin_address": row.origin_address,
            "destination_division": row.destination_division,
            "destination_address": row.destination_address,
        },
        valid_until=now + timedelta(days=max(1, limit.value)),
        purpose="户口迁移",
        division_code=row.destination_division,
        subject_ref=number,
    )
    row.permit_number = permit.number
    body = PermitMessage(
        case_ref=number,
        matter=row.matter,
        id_number=row.id_number,
        permit=forms.to_json_bytes(permit.signed).decode("utf-8"),
    )
    sent = _to_origin(s, node, row, PERMIT_TYPE, body)
    row.permit_hash = sent_hash(s, str(sent))
    row.state, row.updated_at = target.value, now
    cases_store.save_case(s, loaded)
    audit(
        s,
        actor=actor.id,
        action="migration.case.approve",
        number=number,
        change={"permit": permit.number, "origin": row.origin},
        now=now,
    )
    notify_applicant(
        s,
        case_id=loaded.id,
        number=number,
        key="approved",
        message=MIG_APPROVED,
        params={"number": number, "paper": permit.number},
        now=now,
    )
    return row


def _close(
    s: Session,
    node: NodeContext,
    row: MigrationCaseRow,
    loaded: Any,
    *,
    actor: str,
    now: datetime,
    how: str,
    reason: Refusal | None,
    note: str | None,
) -> None:
    """Close the case (refused or withdrawn), end the open-migration mark, and tell the applicant."""
    case = loaded.obj
    row.reason = reason.value if reason is not None else None
    row.note = note
    params: dict[str, Any]
    if how == "withdraw":
        case.withdraw(now=now, actor=actor, reason=note or "withdrawn by the applicant")
        message, params = MIG_WITHDRAWN, {"number": row.case_number}
    elif how == "abandon":
        case.refuse(now=now, actor=actor, reason=Refusal.ABANDONED.value + (f": {note}" if note else ""))
        message, params = MIG_ABANDONED, {"number": row.case_number}
    else:
        assert reason is not None
        case.refuse(now=now, actor=actor, reason=reason.value + (f": {note}" if note else ""))
        message = MIG_REFUSED
        params = {"number": row.case_number, "reason": {"msgid": REFUSAL_TEXTS[reason]}}
    cases_store.save_case(s, loaded)
    store.close_open(s, person_ref=row.person_ref, case_number=row.case_number)
    notify_applicant(
        s, case_id=loaded.id, number=row.case_number, key=how, message=message, params=params, now=now
    )


def _send_abandon(
    s: Session, node: NodeContext, row: MigrationCaseRow, *, why: str, note: str | None
) -> None:
    body = AbandonMessage(case_ref=row.case_number, reason=why, note=note)
    _to_origin(s, node, row, ABANDON_TYPE, body)


def refuse(node: NodeContext, *, actor: window.Actor, number: str, note: str | None = None) -> MigrationView:
    """The destination's reviewer refuses before approving (e.g. the local policy is not met)."""
    with node.db.transaction() as s:
        now = node.clock.now()
        row, loaded = _loaded(s, number)
        _step(row, DestAction.REFUSE, now)
        decision = loaded.obj.decision
        why = (
            Refusal.NOT_ELIGIBLE
            if decision is not None and not decision.get("eligible")
            else Refusal.DESTINATION_REFUSED
        )
        _close(s, node, row, loaded, actor=actor.id, now=now, how="refuse", reason=why, note=note)
        audit(
            s, actor=actor.id, action="migration.case.refuse", number=number, change={"reason": why}, now=now
        )
        return view_of(node, s, row, "zh_CN")


def withdraw(
    node: NodeContext, *, actor: window.Actor, number: str, note: str | None = None
) -> MigrationView:
    """The applicant withdraws. Before the permit was sent: a cancel (nothing left this node). After it: a
    compensation, the signed ``mig.abandon.v1`` (the origin cancels its task, or restores the person it
    moved out). After the move-in: refused (409)."""
    with node.db.transaction() as s:
        now = node.clock.now()
        row, loaded = _loaded(s, number)
        before = DestState(row.state)
        _step(row, DestAction.WITHDRAW, now)
        compensated = before is not DestState.ACCEPTED
        if compensated:
            _send_abandon(s, node, row, why="withdrawn", note=note)
        _close(s, node, row, loaded, actor=actor.id, now=now, how="withdraw", reason=None, note=note)
        audit(
            s,
            actor=actor.id,
            action="migration.case.withdraw",
            number=number,
            change={"compensation": compensated, "from": before.value},
            now=now,
        )
        return view_of(node, s, row, "zh_CN")


def abandon(node: NodeContext, *, actor: window.Actor, number: str, note: str | None = None) -> MigrationView:
    """The destination gives up after the permit (e.g. the certificate runs out and the applicant does not
    come): the signed ``mig.abandon.v1`` makes the origin restore the person; the case closes refused."""
    with node.db.transaction() as s:
        now = node.clock.now()
        row, loaded = _loaded(s, number)
        _step(row, DestAction.ABANDON, now)
        _send_abandon(s, node, row, why="abandoned", note=note)
        _close(
            s, node, row, loaded, actor=actor.id, now=now, how="abandon", reason=Refusal.ABANDONED, note=note
        )
        audit(
            s, actor=actor.id, action="migration.case.abandon", number=number, change={"note": note}, now=now
        )
        return view_of(node, s, row, "zh_CN")


def request_reissue(node: NodeContext, *, actor: window.Actor, number: str) -> MigrationView:
    """The certificate nears its end before the move-in: ask its issuer (the origin) for a new one."""
    with node.db.transaction() as s:
        now = node.clock.now()
        row, _ = _loaded(s, number)
        _step(row, DestAction.REQUEST_REISSUE, now)
        assert row.certificate_number is not None
        body = ReissueMessage(case_ref=number, certificate_number=row.certificate_number)
        _to_origin(s, node, row, REISSUE_TYPE, body)
        audit(
            s,
            actor=actor.id,
            action="migration.certificate.reissue_request",
            number=number,
            change={"certificate": row.certificate_number},
            now=now,
        )
        return view_of(node, s, row, "zh_CN")


def move_in(
    node: NodeContext,
    *,
    actor: window.Actor,
    number: str,
    household_number: str | None = None,
    relation: str | None = None,
    on_date: date | None = None,
) -> MigrationView:
    """Register the move-in into the chosen household (by default the one chosen at acceptance) with the
    journal's ``case_ref`` = the case number, complete the case and send ``mig.settled.v1``: one transaction.
    A certificate past its validity is refused (409): ask for a reissue, or abandon."""
    with node.db.transaction() as s:
        row = _move_in(
            s,
            node,
            actor=actor,
            number=number,
            household_number=household_number,
            relation=relation,
            on_date=on_date,
        )
        return view_of(node, s, row, "zh_CN")


def _move_in(
    s: Session,
    node: NodeContext,
    *,
    actor: window.Actor,
    number: str,
    household_number: str | None = None,
    relation: str | None = None,
    on_date: date | None = None,
    pre: _Prefetched | None = None,
) -> MigrationCaseRow:
    now = node.clock.now()
    row, loaded = _loaded(s, number, pre)
    target, registration = _move_in_checked(row, now, household_number, relation, on_date)
    person = registry.register_person(
        node,
        session=s,
        actor=actor.id,
        household_number=registration.household_number,
        relation=registration.relation,
        event="moved_in",
        name=registration.name,
        sex=registration.sex,
        birth_date=registration.birth_date,
        ethnicity=registration.ethnicity,
        birthplace=registration.birthplace,
        id_number=registration.id_number,
        on_date=registration.on_date,
        reason=registration.reason,
        case_ref=registration.case_ref,
    )
    _moved_in(
        s,
        node,
        actor=actor,
        row=row,
        loaded=loaded,
        target=target,
        registration=registration,
        since=person.since,
        now=now,
    )
    return row


def _move_in_checked(
    row: MigrationCaseRow,
    now: datetime,
    household_number: str | None,
    relation: str | None,
    on_date: date | None,
) -> tuple[DestState, registry.Registration]:
    """A move-in's checks (the certificate still valid, the transition allowed, a household named): the
    state it leads to and the registration it makes."""
    number = row.case_number
    if row.state == DestState.CERTIFICATE_RECEIVED.value and (
        row.certificate_valid_until is None or row.certificate_valid_until <= now
    ):
        raise Conflict(
            N_("Case {number}: the migration certificate has expired; ask for a reissue or abandon"),
            number=number,
        )
    # Checked now, written with the move-in's fields: one UPDATE of the row.
    target = next_dest(DestState(row.state), DestAction.MOVE_IN, number=row.case_number)
    record = dict(row.record or {})
    household = household_number or row.household_number
    rel = relation or row.relation or "other_relative"
    if household is None:
        raise InvalidInput(N_("Name the household the person moves into"))
    return target, registry.Registration(
        household_number=household,
        relation=rel,
        name=str(record["name"]),
        sex=str(record["sex"]),
        birth_date=date.fromisoformat(str(record["birth_date"])),
        ethnicity=str(record["ethnicity"]),
        birthplace=str(record["birthplace"]),
        id_number=row.id_number,
        on_date=on_date,
        reason="migration",
        case_ref=number,
    )


def _moved_in(
    s: Session,
    node: NodeContext,
    *,
    actor: window.Actor,
    row: MigrationCaseRow,
    loaded: Any,
    target: DestState,
    registration: registry.Registration,
    since: date,
    now: datetime,
) -> None:
    """After the registration: the case completed, the open mark closed, ``mig.settled.v1`` to the origin."""
    number = row.case_number
    household = registration.household_number
    row.household_number, row.relation, row.moved_in_on = household, str(registration.relation), since
    row.state, row.updated_at = target.value, now
    loaded.obj.complete(now=now, actor=actor.id, reason=f"moved in: {row.certificate_number}")
    cases_store.save_case(s, loaded)
    store.close_open(s, person_ref=row.person_ref, case_number=number)
    assert row.certificate_number is not None
    body = SettledMessage(case_ref=number, certificate_number=row.certificate_number, moved_in_on=since)
    _to_origin(s, node, row, SETTLED_TYPE, body)
    audit(
        s,
        actor=actor.id,
        action="migration.case.move_in",
        number=number,
        change={"household": household, "certificate": row.certificate_number},
        now=now,
    )
    notify_applicant(
        s,
        case_id=loaded.id,
        number=number,
        key="settled",
        message=MIG_SETTLED,
        params={"number": number, "household": household},
        now=now,
    )


def _move_in_all(
    s: Session, node: NodeContext, *, actor: window.Actor, numbers: Sequence[str], pre: _Prefetched | None
) -> list[str]:
    """``_move_in`` of every case (into the household chosen at acceptance) as one batch pass: each case
    checked, then all registered by one ``register_people``, then each case's own writes."""
    pre = pre if pre is not None else _Prefetched.read(s, numbers)
    now = node.clock.now()
    found = [_loaded(s, n, pre) for n in numbers]
    checked = [_move_in_checked(row, now, None, None, None) for row, _ in found]
    people = registry.register_people(
        node, actor=actor.id, event="moved_in", entries=[r for _, r in checked], session=s
    )
    for (row, loaded), (target, registration), person in zip(found, checked, people, strict=True):
        _moved_in(
            s,
            node,
            actor=actor,
            row=row,
            loaded=loaded,
            target=target,
            registration=registration,
            since=person.since,
            now=now,
        )
    return [row.case_number for row, _ in found]


# -- batches ---------------------------------------------------------------------------------------------
# Many cases per transaction ("group commit"): the same use cases, each case's writes in the batch's
# savepoint, one commit for the batch. If any case fails, the batch is re-run case by case, each in a
# savepoint of its own, so a failing case changes nothing and the others still commit; its error is
# returned in its place. Only the case numbers are returned (no views: the API and pages use the single
# use cases above).


@dataclass(frozen=True)
class MigrationRequest:
    """One application (the arguments of ``accept_migration``); ``accept_migrations`` needs its origin."""

    applicant: window.Applicant
    name: str
    matter: str
    facts: Mapping[str, Any]
    household_number: str
    relation: str
    origin_address: str
    origin: str | None
    origin_division: str | None = None
    commitment_signed: bool = True


def _batch(
    node: NodeContext,
    items: Sequence[T],
    step: Callable[[Session, T, _Prefetched | None], str],
    prefetch: Callable[[Session, Sequence[T]], _Prefetched] | None = None,
    whole: Callable[[Session, Sequence[T], _Prefetched | None], list[str]] | None = None,
) -> list[str | TongbanError]:
    """``step`` for each item, in one transaction. The first pass runs them all on what ``prefetch`` read for
    the batch, as a batch pass (``core.batching``: the case and paper numbers of the pass reserved at once,
    the cases' writes and the new rows written per table when the pass ends); if one is refused, the pass is
    rolled back and every item runs again on its own savepoint, reading afresh and writing at once (what the
    first pass read and changed in memory is void with its rollback). ``whole``, when given, is the first
    pass over all the items at once (a step that writes the batch's rows of a table together)."""
    if not items:
        return []
    with node.db.transaction() as s:
        try:
            with s.begin_nested(), batching.batch_pass(s, len(items)):
                pre = prefetch(s, items) if prefetch is not None else None
                if whole is not None:
                    done: list[str | TongbanError] = list(whole(s, items, pre))
                    return done
                return [step(s, item, pre) for item in items]
        except TongbanError:
            pass  # one of them is refused: each on its own below
        out: list[str | TongbanError] = []
        for item in items:
            try:
                with s.begin_nested():
                    out.append(step(s, item, None))
            except TongbanError as refused:
                out.append(refused)
        return out


def accept_migrations(
    node: NodeContext, *, actor: window.Actor, requests: Sequence[MigrationRequest]
) -> list[str | TongbanError]:
    """``accept_migration`` for many applications in one transaction (each with its origin given): the case
    numbers, or the error of an application refused (which changes nothing)."""

    if any(r.origin is None for r in requests):
        raise ValueError("accept_migrations needs each request's origin (no locator wait in a transaction)")

    def step(s: Session, r: MigrationRequest, _pre: _Prefetched | None) -> str:
        return _accept(node, s, actor=actor, request=r, want_view=False)[0]

    return _batch(
        node, requests, step, whole=lambda s, rs, _pre: _accept_all(s, node, actor=actor, requests=rs)
    )


def approve_many(
    node: NodeContext, *, actor: window.Actor, numbers: Sequence[str]
) -> list[str | TongbanError]:
    """``approve`` for many cases in one transaction (one permit and one ``mig.permit.v1`` each)."""
    return _batch(
        node,
        numbers,
        lambda s, n, pre: _approve(s, node, actor=actor, number=n, pre=pre).case_number,
        _Prefetched.read,
    )


def move_in_many(
    node: NodeContext, *, actor: window.Actor, numbers: Sequence[str]
) -> list[str | TongbanError]:
    """``move_in`` (into the household chosen at acceptance) for many cases in one transaction."""
    return _batch(
        node,
        numbers,
        lambda s, n, pre: _move_in(s, node, actor=actor, number=n, pre=pre).case_number,
        _Prefetched.read,
        lambda s, ns, pre: _move_in_all(s, node, actor=actor, numbers=ns, pre=pre),
    )


# -- messages from the origin ----------------------------------------------------------------------------


def answers_our_permit(
    session: Session, node: NodeContext, row: MigrationCaseRow, incoming: Incoming, permit_hash: str
) -> bool:
    """Whether an answer of the origin names the permit this case sent (its hash, in the body and as the
    envelope's ``in_reply_to``). One that does not is recorded (audited with the hashes it named) and never
    applied. A case approved before permits were hashed here has no hash to compare: its answers pass."""
    env = incoming.envelope
    if row.permit_hash is None or (permit_hash == row.permit_hash and env.in_reply_to == row.permit_hash):
        return True
    audit(
        session,
        actor=f"node:{env.sender}",
        action="migration.answer.mismatch",
        number=row.case_number,
        change={
            "type": env.type,
            "envelope": str(env.id),
            "permit_hash": permit_hash,
            "in_reply_to": env.in_reply_to,
            "expected": row.permit_hash,
        },
        now=node.clock.now(),
    )
    return False


@dataclass
class _CertificatesPrefetched:
    """What a group of certificates reads of their cases (rows, locked; case ids; window records), in three
    statements for the group."""

    rows: dict[str, MigrationCaseRow]
    case_ids: dict[str, int]
    windows: list[Any]  # kept referenced, so that the session's identity map answers notify_applicant's get


def apply_certificates(session: Session, node: NodeContext, incomings: list[Incoming]) -> None:
    """``apply_certificate`` for consecutive certificates of one apply group, in order, on their cases read
    together (the exchange's group path; a failure re-runs them one at a time through ``apply_certificate``)."""
    numbers = [i.message.case_ref for i in incomings if isinstance(i.message, CertificateMessage)]
    rows = store.case_rows(session, numbers, lock=True)
    case_ids = cases_store.case_ids_of(session, list(rows))
    pre = _CertificatesPrefetched(rows, case_ids, cases_store.window_rows(session, list(case_ids.values())))
    for incoming in incomings:
        apply_certificate(session, node, incoming, pre)


def apply_certificate(
    session: Session, node: NodeContext, incoming: Incoming, pre: _CertificatesPrefetched | None = None
) -> None:
    """``mig.certificate.v1`` at the destination: verify the certificate against the directory (issuer =
    the origin, this case, this person, this permit), attach it and tell the applicant. After a withdrawal or
    an abandon nothing changes (the abandon already sent makes the origin restore the person)."""
    msg = incoming.message
    assert isinstance(msg, CertificateMessage)
    env = incoming.envelope
    now = node.clock.now()
    row = pre.rows.get(msg.case_ref) if pre is not None else store.case_row(session, msg.case_ref, lock=True)
    if row is None or row.origin != env.sender or env.case_ref != msg.case_ref:
        raise ValueError("a migration certificate for no case sent to its sender")
    if not answers_our_permit(session, node, row, incoming, msg.permit_hash):
        return  # recorded, never applied: it does not answer the permit this case sent
    state = DestState(row.state)
    if state not in DEST_OPEN:
        return  # closed here: withdrawn or abandoned, and the abandon is on its way
    if state is DestState.CERTIFICATE_RECEIVED and (
        msg.reissue_of is None or msg.reissue_of != row.certificate_number
    ):
        return  # a re-sent certificate already attached, or a stale reissue
    paper = verified(node, msg.certificate, now)
    if (
        paper is None
        or paper.issuer != env.sender
        or paper.type != CERTIFICATE_PAPER
        or paper.subject.get("id_number") != row.id_number
        or paper.facts.get("case_ref") != row.case_number
        or paper.facts.get("permit_number") != row.permit_number
        or paper.valid_until is None
    ):
        raise ValueError("the migration certificate does not verify or is not for this case")
    _step(row, DestAction.RECEIVE_CERTIFICATE, now)
    row.certificate_number, row.certificate_json = paper.number, msg.certificate
    row.certificate_valid_until = paper.valid_until
    row.record = {**(row.record or {}), **msg.record.model_dump(mode="json")}
    case_id = pre.case_ids.get(row.case_number) if pre is not None else None
    if case_id is None:
        case_id = cases_store.case_id_of(session, row.case_number)
    audit(
        session,
        actor=f"node:{env.sender}",
        action="migration.certificate.receive",
        number=row.case_number,
        change={"certificate": paper.number, "reissue_of": msg.reissue_of},
        now=now,
    )
    notify_applicant(
        session,
        case_id=case_id,
        number=row.case_number,
        key=f"certificate:{paper.number}",
        message=MIG_MOVED_OUT,
        params={
            "number": row.case_number,
            "paper": paper.number,
            "until": paper.valid_until.date().isoformat(),
        },
        now=now,
    )


def apply_refused(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``mig.refused.v1`` at the destination: the case closes refused with the origin's reason; the applicant
    is told in their language."""
    msg = incoming.message
    assert isinstance(msg, RefusedMessage)
    env = incoming.envelope
    now = node.clock.now()
    row = store.case_row(session, msg.case_ref, lock=True)
    if row is None or row.origin != env.sender:
        raise ValueError("a migration refusal for no case sent to its sender")
    if not answers_our_permit(session, node, row, incoming, msg.permit_hash):
        return  # recorded, never applied
    if DestState(row.state) is not DestState.PERMIT_SENT:
        return  # withdrawn meanwhile (its abandon reaches the origin), or a re-send
    _step(row, DestAction.ORIGIN_REFUSED, now)
    loaded = cases_store.load_case(session, row.case_number)
    actor = f"node:{env.sender}"
    _close(session, node, row, loaded, actor=actor, now=now, how="refuse", reason=msg.reason, note=msg.note)
    audit(
        session,
        actor=actor,
        action="migration.case.origin_refused",
        number=row.case_number,
        change={"reason": msg.reason.value},
        now=now,
    )


types.register(PERMIT_TYPE, PermitMessage, personal=True)
types.register(CERTIFICATE_TYPE, CertificateMessage, personal=True)
types.register(REFUSED_TYPE, RefusedMessage, personal=True)
types.register(SETTLED_TYPE, SettledMessage, personal=True)
types.register(ABANDON_TYPE, AbandonMessage, personal=True)
types.register(REISSUE_TYPE, ReissueMessage, personal=True)
register_handler(PERMIT_TYPE, origin.apply_permit)
register_group_handler(PERMIT_TYPE, origin.apply_permits)
register_handler(CERTIFICATE_TYPE, apply_certificate)
register_group_handler(CERTIFICATE_TYPE, apply_certificates)
register_handler(REFUSED_TYPE, apply_refused)
register_handler(SETTLED_TYPE, origin.apply_settled)
register_group_handler(SETTLED_TYPE, origin.apply_settlements)
register_handler(ABANDON_TYPE, origin.apply_abandon)
register_handler(REISSUE_TYPE, origin.apply_reissue)

import tongban.migration.expiry  # noqa: E402, F401  (registers the sweep's step: certificates nearing their end)
