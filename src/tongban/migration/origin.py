"""The migration saga at the origin (迁出地): a task linked to the destination's case.

The origin is the authority on its own register: of two destinations competing for one person, the first
permit it applies moves the person out (in transit, owned by that case); the other is refused with
``in-another-migration``. The origin restores a person only on a signed ``mig.abandon.v1`` and confirms the
move-out only on ``mig.settled.v1``, both from the case's owner.

- ``apply_permit``: verify the permit, check the person (actively registered here, no other migration open),
  log the read, open the clerk's task (1 working day) or move out automatically where allowed;
- ``move_out`` / ``refuse_move_out``: the clerk's decision on the task;
- ``apply_abandon``, ``apply_settled``, ``apply_reissue``: the destination's later messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from tongban.access.store import add_views
from tongban.cases import store as cases_store
from tongban.cases.calendar import TimeLimit, local_date
from tongban.cases.domain import CaseRef, Task, TaskAction
from tongban.cases.service import cases_setup
from tongban.cases.store import Loaded
from tongban.cases.window import applicant_ref
from tongban.core import batching
from tongban.core.errors import Conflict, NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.exchange.domain import envelope_hash
from tongban.exchange.service import Incoming, enqueue
from tongban.migration import store
from tongban.migration.common import AUTOMATIC_ACTOR, audit, settings_of, verified
from tongban.migration.domain import (
    CERTIFICATE_PAPER,
    CERTIFICATE_TYPE,
    ORIGIN_OPEN,
    PERMIT_PAPER,
    REFUSED_TYPE,
    AbandonMessage,
    CertificateMessage,
    OriginAction,
    OriginState,
    PermitMessage,
    PersonRecord,
    Refusal,
    RefusedMessage,
    ReissueMessage,
    SettledMessage,
    next_origin,
)
from tongban.migration.tables import MigrationTaskRow
from tongban.papers import forms
from tongban.papers.domain import PaperView, SignedPaper, read_payload
from tongban.papers.service import get_paper, issue_paper, revoke_paper
from tongban.registry import service as registry
from tongban.registry import store as registry_store
from tongban.registry.domain import RegistrationStatus
from tongban.registry.tables import Household, Person, PersonState

STEP = "move_out"


def task_ref_of(case_number: str) -> str:
    return f"mig:{case_number}"


@dataclass(frozen=True)
class OriginTaskView:
    case_node: str
    case_number: str
    task_ref: str | None
    matter: str | None
    state: str
    reason: str | None
    certificate_number: str | None
    due: str | None


def _step(row: MigrationTaskRow, action: OriginAction, now: datetime) -> OriginState:
    target = next_origin(OriginState(row.state), action, number=row.case_number)
    row.state, row.updated_at = target.value, now
    return target


def _close_task(
    s: Session,
    row: MigrationTaskRow,
    action: TaskAction,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    task: Loaded[Task] | None = None,
) -> None:
    """Close the origin's task (``task``: the caller holds it as loaded or just added in this transaction)."""
    if row.task_ref is None:
        return
    found = (
        task if task is not None and task.obj.ref == row.task_ref else cases_store.find_task(s, row.task_ref)
    )
    if found is None or found.obj.is_closed:
        return
    found.obj.apply(action, now=now, actor=actor, reason=reason)
    cases_store.save_task(s, found)


def _answer(s: Session, node: NodeContext, row: MigrationTaskRow, type_: str, body: BaseModel) -> None:
    """A saga message back to the case's destination, bound to the permit it answers."""
    enqueue(
        s,
        node=node,
        recipient=row.case_node,
        type=type_,
        body=body.model_dump(mode="json"),
        case_ref=row.case_number,
        consent_ref=row.consent_ref,
        in_reply_to=row.permit_hash,
    )


def _refuse(
    s: Session,
    node: NodeContext,
    row: MigrationTaskRow,
    *,
    reason: Refusal,
    note: str | None,
    actor: str,
    now: datetime,
) -> None:
    row.reason, row.note = reason.value, note
    assert row.permit_hash is not None
    body = RefusedMessage(case_ref=row.case_number, permit_hash=row.permit_hash, reason=reason, note=note)
    _answer(s, node, row, REFUSED_TYPE, body)
    audit(
        s,
        actor=actor,
        action="migration.origin.refuse",
        number=f"{row.case_node}/{row.case_number}",
        change={"reason": reason.value},
        now=now,
    )


def apply_permit(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``mig.permit.v1`` at the origin (see the module's description); one transaction with its answer."""
    msg = incoming.message
    assert isinstance(msg, PermitMessage)
    env = incoming.envelope
    if env.case_ref != msg.case_ref or not msg.case_ref.startswith(env.sender + "-"):
        raise ValueError("a permit names a case of its sender")
    now = node.clock.now()
    existing = store.task_row(session, msg.case_ref, lock=True)
    if existing is not None:
        if existing.permit_json is None:  # the abandon came first: the permit arrives to a closed task
            existing.permit_json, existing.id_number, existing.matter = msg.permit, msg.id_number, msg.matter
            existing.permit_hash, existing.consent_ref = envelope_hash(env.raw), env.consent_ref
        return
    row = _task_row(node, env, msg, now)
    # The row joins the session once its fields are settled (before it answers, or at the end): added at
    # once, the queries in between would flush it early and every later field would cost an UPDATE of its own.
    actor = f"node:{env.sender}"
    paper = _fitting_permit(verified(node, msg.permit, now), env.sender, msg)
    if paper is None:
        row.state = OriginState.REFUSED.value
        session.add(row)
        _refuse(session, node, row, reason=Refusal.PERMIT_INVALID, note=None, actor=actor, now=now)
        return
    row.permit_number = paper.number
    person = registry_store.person_by_id_number(session, msg.id_number)
    state = registry_store.state_of(session, person.id, lock=True) if person is not None else None
    if person is not None and state is not None:
        add_views(session, [_permit_check_view(person, state, env.sender, msg.case_ref, now)])
    refusal: Refusal | None = None
    if state is None or state.status != RegistrationStatus.ACTIVE.value:
        in_transit = state is not None and state.status == RegistrationStatus.IN_TRANSIT.value
        refusal = Refusal.IN_ANOTHER_MIGRATION if in_transit else Refusal.NOT_REGISTERED
    else:
        other = store.try_open(
            session, person_ref=row.person_ref or "", case_number=msg.case_ref, role="origin", now=now
        )
        if other is not None:
            refusal = Refusal.IN_ANOTHER_MIGRATION
    if refusal is not None:
        row.state = OriginState.REFUSED.value
        session.add(row)
        _refuse(session, node, row, reason=refusal, note=None, actor=actor, now=now)
        return
    setup = cases_setup(node)
    matter = setup.catalog.get(msg.matter)
    task = _receive_task(node, setup, env.sender, msg, now)
    added = cases_store.add_task(session, task)
    row.task_ref = task.ref
    _audit_receive(session, row, env.sender, paper.number, task, now)
    if settings_of(node).automatic_move_out and matter.allows_automatic:
        assert person is not None and state is not None  # else refused above
        try:
            with session.begin_nested():
                _move_out(
                    session,
                    node,
                    row,
                    actor=AUTOMATIC_ACTOR,
                    now=now,
                    new_head_id_number=None,
                    task=added,
                    held=(person, state),
                )
        except Conflict:
            # Not unambiguous (a head leaving others behind names a new head): a clerk decides.
            row.state, row.certificate_number = OriginState.RECEIVED.value, None
    session.add(row)


def _task_row(node: NodeContext, env: Any, msg: PermitMessage, now: datetime) -> MigrationTaskRow:
    """The origin's row of a permit just arrived (received; not in the session yet)."""
    return MigrationTaskRow(
        case_node=env.sender,
        case_number=msg.case_ref,
        matter=msg.matter,
        id_number=msg.id_number,
        person_ref=applicant_ref(node, msg.id_number),
        state=OriginState.RECEIVED.value,
        permit_json=msg.permit,
        permit_hash=envelope_hash(env.raw),
        consent_ref=env.consent_ref,
        created_at=now,
        updated_at=now,
    )


def _fitting_permit(paper: PaperView | None, sender: str, msg: PermitMessage) -> PaperView | None:
    """The verified paper (None: it did not verify) if it is a permit of the sender for this case and
    person; None otherwise."""
    if (
        paper is None
        or paper.issuer != sender
        or paper.type != PERMIT_PAPER
        or paper.subject.get("id_number") != msg.id_number
        or paper.facts.get("case_ref") != msg.case_ref
    ):
        return None
    return paper


def _permit_check_view(
    person: Person, state: PersonState, sender: str, case_ref: str, now: datetime
) -> dict[str, object]:
    """The access log's row of the permit's check of the person's record (a read for the case)."""
    return {
        "at": now,
        "viewer_id": f"node:{sender}",
        "viewer_role": "exchange",
        "viewer_division": None,
        "viewer_office": None,
        "person_ref": str(person.id),
        "person_division": state.division_code,
        "reason": "case",
        "reason_ref": f"{sender}/{case_ref}"[:64],
        "action": "migration.permit.check",
    }


def _receive_task(node: NodeContext, setup: Any, sender: str, msg: PermitMessage, now: datetime) -> Task:
    """The origin's move-out task of a permit, with its step's time limit (1 working day by default)."""
    matter = setup.catalog.get(msg.matter)
    steps = {s.key: s for s in matter.procedure(None).steps}
    spec = steps[STEP].time_limit if STEP in steps else None
    limit = spec.resolve(None) if spec is not None and spec.policy is None else TimeLimit.working_days(1)
    return Task.receive(
        ref=task_ref_of(msg.case_ref),
        case=CaseRef(sender, msg.case_ref),
        owner_node=node.code,
        matter=matter.code,
        step=STEP,
        time_limit=limit,
        calendar=setup.calendar,
        now=now,
        actor=f"node:{sender}",
    )


def _audit_receive(
    session: Session, row: MigrationTaskRow, sender: str, permit_number: str, task: Task, now: datetime
) -> None:
    audit(
        session,
        actor=f"node:{sender}",
        action="migration.origin.receive",
        number=f"{sender}/{row.case_number}",
        change={"permit": permit_number, "task": task.ref, "due": task.due.isoformat() if task.due else None},
        now=now,
    )


def apply_permits(session: Session, node: NodeContext, incomings: list[Incoming]) -> None:
    """``apply_permit`` for consecutive permits (the exchange's group handler): as one batch pass
    (``core.batching``) when each opens a new task for a distinct person and the origin moves out
    automatically, so the tasks, the move-outs, the certificates and their messages take one statement per
    table for the group. Otherwise the permits are applied one after the other; and a move-out the batch
    cannot make (a head leaving others behind) fails the group, which the exchange then applies message by
    message, each with ``apply_permit``."""
    planned = _planned_permits(session, node, incomings)
    if planned is None:
        for incoming in incomings:
            apply_permit(session, node, incoming)
        return
    with batching.batch_pass(session, len(incomings)):
        _apply_planned(session, node, planned)


def _planned_permits(
    session: Session, node: NodeContext, incomings: list[Incoming]
) -> list[tuple[Incoming, PermitMessage]] | None:
    """The permits, when the batch pass can take them all (see ``apply_permits``); None otherwise."""
    if not settings_of(node).automatic_move_out:
        return None
    setup = cases_setup(node)
    planned: list[tuple[Incoming, PermitMessage]] = []
    for incoming in incomings:
        msg, env = incoming.message, incoming.envelope
        if not isinstance(msg, PermitMessage) or env.case_ref != msg.case_ref:
            return None
        if not msg.case_ref.startswith(env.sender + "-") or msg.matter not in setup.catalog.matters:
            return None
        if not setup.catalog.get(msg.matter).allows_automatic:
            return None
        planned.append((incoming, msg))
    cases = [msg.case_ref for _, msg in planned]
    people = [msg.id_number for _, msg in planned]
    if len(set(cases)) != len(cases) or len(set(people)) != len(people) or store.task_numbers(session, cases):
        return None
    return planned


def _apply_planned(
    session: Session, node: NodeContext, planned: list[tuple[Incoming, PermitMessage]]
) -> None:
    """``apply_permit`` of each permit, with the reads and writes of all of them made together."""
    now = node.clock.now()
    persons = registry_store.persons_by_id_number(session, [msg.id_number for _, msg in planned])
    states = registry_store.states_of(session, [p.id for p in persons.values()], lock=True)
    setup = cases_setup(node)
    views: list[dict[str, object]] = []
    rows: list[MigrationTaskRow] = []
    checked: list[tuple[MigrationTaskRow, Incoming, PermitMessage, PaperView, Person, PersonState]] = []
    for incoming, msg in planned:
        env = incoming.envelope
        actor = f"node:{env.sender}"
        row = _task_row(node, env, msg, now)
        rows.append(row)
        paper = _fitting_permit(verified(node, msg.permit, now), env.sender, msg)
        if paper is None:
            row.state = OriginState.REFUSED.value
            _refuse(session, node, row, reason=Refusal.PERMIT_INVALID, note=None, actor=actor, now=now)
            continue
        row.permit_number = paper.number
        person = persons.get(msg.id_number)
        state = states.get(person.id) if person is not None else None
        if person is not None and state is not None:
            views.append(_permit_check_view(person, state, env.sender, msg.case_ref, now))
        if state is None or state.status != RegistrationStatus.ACTIVE.value:
            in_transit = state is not None and state.status == RegistrationStatus.IN_TRANSIT.value
            row.state = OriginState.REFUSED.value
            refusal = Refusal.IN_ANOTHER_MIGRATION if in_transit else Refusal.NOT_REGISTERED
            _refuse(session, node, row, reason=refusal, note=None, actor=actor, now=now)
            continue
        assert person is not None
        checked.append((row, incoming, msg, paper, person, state))
    add_views(session, views)
    opened = store.try_open_many(
        session, [(row.person_ref or "", row.case_number) for row, *_ in checked], role="origin", now=now
    )
    moving = []
    for row, incoming, msg, paper, person, state in checked:
        if row.person_ref not in opened:
            row.state = OriginState.REFUSED.value
            actor = f"node:{incoming.envelope.sender}"
            _refuse(session, node, row, reason=Refusal.IN_ANOTHER_MIGRATION, note=None, actor=actor, now=now)
            continue
        moving.append((row, incoming, msg, paper, person, state))
    tasks = [
        _receive_task(node, setup, incoming.envelope.sender, msg, now) for _, incoming, msg, *_ in moving
    ]
    added = cases_store.add_tasks(session, tasks)
    for (row, incoming, _, paper, _, _), task in zip(moving, tasks, strict=True):
        row.task_ref = task.ref
        _audit_receive(session, row, incoming.envelope.sender, paper.number, task, now)
    for row, *_ in moving:
        _step(row, OriginAction.MOVE_OUT, now)
    left = registry.mark_in_transit_many(
        node,
        actor=AUTOMATIC_ACTOR,
        leaving=[registry.Leaving(person, state, row.case_number) for row, _, _, _, person, state in moving],
        session=session,
        reason="migration",
    )
    for (row, _, _, paper, person, _), loaded, (view, household) in zip(moving, added, left, strict=True):
        _certify(
            session,
            node,
            row,
            person,
            household,
            paper.facts,
            moved_out_on=view.since,
            actor=AUTOMATIC_ACTOR,
            now=now,
            task=loaded,
        )
    session.add_all(rows)


def _move_out(
    s: Session,
    node: NodeContext,
    row: MigrationTaskRow,
    *,
    actor: str,
    now: datetime,
    new_head_id_number: str | None,
    task: Loaded[Task] | None = None,
    held: tuple[Person, PersonState] | None = None,
) -> None:
    """In transit (journal ``case_ref`` = the destination case number), the migration certificate issued
    (``subject_ref`` = the same number, valid 30 days) and sent, the task completed: the caller's transaction.
    ``task`` and ``held`` (the person and their state, locked) are what the caller already read in it."""
    _step(row, OriginAction.MOVE_OUT, now)
    assert row.id_number is not None and row.permit_json is not None
    permit = forms.from_json_bytes(row.permit_json.encode("utf-8"))
    permit_facts = read_payload(permit.payload).facts
    state: PersonState | None
    if held is not None:
        person, state = held
    else:
        found = registry_store.person_by_id_number(s, row.id_number)
        if found is None:  # pragma: no cover - checked when the permit arrived, under the same lock
            raise NotFound(N_("No such person"))
        person, state = found, registry_store.state_of(s, found.id, lock=True)
    household = (
        registry_store.household_by_id(s, state.household_id)
        if state is not None and state.household_id is not None
        else None
    )
    if household is None:
        raise Conflict(N_("The person is not actively registered here"))
    view = registry.mark_in_transit(
        node,
        session=s,
        person=person,
        actor=actor,
        id_number=row.id_number,
        case_ref=row.case_number,
        reason="migration",
        new_head_id_number=new_head_id_number,
    )
    _certify(
        s,
        node,
        row,
        person,
        household,
        permit_facts,
        moved_out_on=view.since,
        actor=actor,
        now=now,
        task=task,
    )


def _certify(
    s: Session,
    node: NodeContext,
    row: MigrationTaskRow,
    person: Person,
    household: Household,
    permit_facts: Mapping[str, Any],
    *,
    moved_out_on: date,
    actor: str,
    now: datetime,
    task: Loaded[Task] | None,
) -> None:
    """After the move-out: the migration certificate issued and sent, the task completed."""
    paper = issue_paper(
        s,
        node=node,
        actor=actor,
        type=CERTIFICATE_PAPER,
        subject={"name": person.name, "id_number": person.id_number},
        facts={
            "case_ref": row.case_number,
            "permit_number": row.permit_number,
            "moved_out_on": moved_out_on.isoformat(),
            "origin_division": household.division_code,
            "origin_address": household.address,
            "destination_division": permit_facts["destination_division"],
            "destination_address": permit_facts["destination_address"],
        },
        valid_until=None,  # the type's maximum: 30 days (national rule since 1995)
        purpose="户口迁移",
        division_code=household.division_code,
        subject_ref=row.case_number,
    )
    row.certificate_number = paper.number
    _send_certificate(s, node, row, person_record(person), paper.signed, reissue_of=None)
    _close_task(s, row, TaskAction.COMPLETE, actor=actor, now=now, task=task)
    audit(
        s,
        actor=actor,
        action="migration.origin.move_out",
        number=f"{row.case_node}/{row.case_number}",
        change={"certificate": paper.number},
        now=now,
    )


def person_record(person: Person) -> PersonRecord:
    return PersonRecord(
        name=person.name,
        sex=person.sex,
        birth_date=person.birth_date,
        ethnicity=person.ethnicity,
        birthplace=person.birthplace,
    )


def _send_certificate(
    s: Session,
    node: NodeContext,
    row: MigrationTaskRow,
    record: PersonRecord,
    signed: SignedPaper,
    *,
    reissue_of: str | None,
) -> None:
    assert row.permit_hash is not None
    body = CertificateMessage(
        case_ref=row.case_number,
        permit_hash=row.permit_hash,
        certificate=forms.to_json_bytes(signed).decode("utf-8"),
        record=record,
        reissue_of=reissue_of,
    )
    _answer(s, node, row, CERTIFICATE_TYPE, body)


def _task(s: Session, case_number: str) -> MigrationTaskRow:
    row = store.task_row(s, case_number, lock=True)
    if row is None:
        raise NotFound(N_("No migration task for case {number} here"), number=case_number)
    return row


def move_out(
    node: NodeContext, *, actor: str, case_number: str, new_head_id_number: str | None = None
) -> OriginTaskView:
    """The origin clerk's decision: move the person out (see ``_move_out``); one transaction."""
    with node.db.transaction() as s:
        row = _task(s, case_number)
        _move_out(s, node, row, actor=actor, now=node.clock.now(), new_head_id_number=new_head_id_number)
        return _task_view(s, row)


def refuse_move_out(node: NodeContext, *, actor: str, case_number: str, note: str) -> OriginTaskView:
    """The origin clerk refuses the move-out, with words the destination passes on to the applicant."""
    with node.db.transaction() as s:
        now = node.clock.now()
        row = _task(s, case_number)
        _step(row, OriginAction.REFUSE, now)
        _close_task(s, row, TaskAction.REJECT, actor=actor, now=now, reason=note or "refused")
        store.close_open(s, person_ref=row.person_ref or "", case_number=case_number)
        _refuse(s, node, row, reason=Refusal.ORIGIN_REFUSED, note=note, actor=actor, now=now)
        return _task_view(s, row)


def _task_view(s: Session, row: MigrationTaskRow) -> OriginTaskView:
    due = None
    if row.task_ref is not None:
        found = cases_store.find_task(s, row.task_ref)
        if found is not None and found.obj.due is not None:
            due = found.obj.due.isoformat()
    return OriginTaskView(
        case_node=row.case_node,
        case_number=row.case_number,
        task_ref=row.task_ref,
        matter=row.matter,
        state=row.state,
        reason=row.reason,
        certificate_number=row.certificate_number,
        due=due,
    )


def get_task(node: NodeContext, *, case_number: str) -> OriginTaskView:
    with node.db.session() as s:
        row = store.task_row(s, case_number)
        if row is None:
            raise NotFound(N_("No migration task for case {number} here"), number=case_number)
        return _task_view(s, row)


def list_tasks(node: NodeContext, *, include_closed: bool = False, limit: int = 200) -> list[OriginTaskView]:
    """The origin clerk's queue: move-out tasks waiting for a decision, oldest first (every task of every
    state with ``include_closed``)."""
    states = [s.value for s in OriginState] if include_closed else [OriginState.RECEIVED.value]
    with node.db.session() as s:
        return [_task_view(s, r) for r in store.tasks_in(s, states, limit=limit)]


# -- later messages from the destination -----------------------------------------------------------------


def apply_abandon(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``mig.abandon.v1``: before the move-out the task is cancelled; after it the person is restored into the
    household they left (journal ``case_ref`` = the case number) and the certificate revoked; before the
    permit arrived, a closed task waits for it (the permit then changes nothing)."""
    msg = incoming.message
    assert isinstance(msg, AbandonMessage)
    env = incoming.envelope
    if not msg.case_ref.startswith(env.sender + "-"):
        raise ValueError("an abandon names a case of its sender")
    now = node.clock.now()
    actor = f"node:{env.sender}"
    row = store.task_row(session, msg.case_ref, lock=True)
    if row is None:
        session.add(
            MigrationTaskRow(
                case_node=env.sender,
                case_number=msg.case_ref,
                state=OriginState.CANCELLED.value,
                reason=msg.reason,
                created_at=now,
                updated_at=now,
            )
        )
        return
    state = OriginState(row.state)
    if state not in ORIGIN_OPEN:
        return
    target = _step(row, OriginAction.ABANDON, now)
    row.reason = msg.reason
    if target is OriginState.CANCELLED:
        _close_task(session, row, TaskAction.CANCEL, actor=actor, now=now, reason=msg.reason)
    else:
        assert row.id_number is not None
        registry.restore_registration(
            node,
            session=session,
            actor=actor,
            id_number=row.id_number,
            case_ref=row.case_number,
            reason=f"migration {msg.reason}",
        )
        if row.certificate_number is not None:
            revoke_paper(session, node=node, actor=actor, number=row.certificate_number, reason="withdrawn")
    store.close_open(session, person_ref=row.person_ref or "", case_number=row.case_number)
    audit(
        session,
        actor=actor,
        action="migration.origin.abandon",
        number=f"{row.case_node}/{row.case_number}",
        change={"reason": msg.reason, "state": target.value},
        now=now,
    )


def apply_settled(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``mig.settled.v1``: the destination registered the move-in; the move-out is confirmed here."""
    msg = incoming.message
    assert isinstance(msg, SettledMessage)
    env = incoming.envelope
    now = node.clock.now()
    row = store.task_row(session, msg.case_ref, lock=True)
    if row is None or row.case_node != env.sender:
        raise ValueError("a settlement for no migration of its sender")
    if OriginState(row.state) is OriginState.SETTLED:
        return
    _step(row, OriginAction.SETTLED, now)
    assert row.id_number is not None
    registry.confirm_moved_out(
        node,
        session=session,
        actor=f"node:{env.sender}",
        id_number=row.id_number,
        case_ref=row.case_number,
        reason="migration settled",
    )
    store.close_open(session, person_ref=row.person_ref or "", case_number=row.case_number)
    audit(
        session,
        actor=f"node:{env.sender}",
        action="migration.origin.settled",
        number=f"{row.case_node}/{row.case_number}",
        change={"moved_in_on": msg.moved_in_on.isoformat()},
        now=now,
    )


def apply_settlements(session: Session, node: NodeContext, incomings: list[Incoming]) -> None:
    """``apply_settled`` for consecutive settlements (the exchange's group handler), as one batch pass: the
    tasks read at once, the move-outs confirmed by one ``confirm_moved_out_many``. A settlement for no task
    of its sender, or two for one case, fails the group, which the exchange then applies one by one."""
    msgs: list[tuple[SettledMessage, str]] = []
    for incoming in incomings:
        msg = incoming.message
        assert isinstance(msg, SettledMessage)
        msgs.append((msg, incoming.envelope.sender))
    numbers = [msg.case_ref for msg, _ in msgs]
    if len(set(numbers)) != len(numbers):
        raise ValueError("two settlements of one case in a group")
    now = node.clock.now()
    with batching.batch_pass(session, len(msgs)):
        rows = store.task_rows(session, numbers, lock=True)
        settling: list[tuple[MigrationTaskRow, SettledMessage, str]] = []
        for msg, sender in msgs:
            row = rows.get(msg.case_ref)
            if row is None or row.case_node != sender:
                raise ValueError("a settlement for no migration of its sender")
            if OriginState(row.state) is OriginState.SETTLED:
                continue
            _step(row, OriginAction.SETTLED, now)
            settling.append((row, msg, sender))
        by_sender: dict[str, list[tuple[str, str]]] = {}
        for row, _, sender in settling:
            assert row.id_number is not None
            by_sender.setdefault(sender, []).append((row.id_number, row.case_number))
        for sender, moves in by_sender.items():
            registry.confirm_moved_out_many(
                node, actor=f"node:{sender}", moves=moves, session=session, reason="migration settled"
            )
        for row, msg, sender in settling:
            store.close_open(session, person_ref=row.person_ref or "", case_number=row.case_number)
            audit(
                session,
                actor=f"node:{sender}",
                action="migration.origin.settled",
                number=f"{row.case_node}/{row.case_number}",
                change={"moved_in_on": msg.moved_in_on.isoformat()},
                now=now,
            )


def apply_reissue(session: Session, node: NodeContext, incoming: Incoming) -> None:
    """``mig.reissue.v1``: issue a new certificate replacing the one named (which is revoked as reissued)."""
    msg = incoming.message
    assert isinstance(msg, ReissueMessage)
    env = incoming.envelope
    now = node.clock.now()
    row = store.task_row(session, msg.case_ref, lock=True)
    if row is None or row.case_node != env.sender:
        raise ValueError("a reissue request for no migration of its sender")
    if (
        OriginState(row.state) is not OriginState.MOVED_OUT
        or row.certificate_number != msg.certificate_number
    ):
        return  # settled or abandoned meanwhile, or already reissued
    _step(row, OriginAction.REISSUE, now)
    old = get_paper(session, node=node, number=msg.certificate_number)
    shown = read_payload(old.signed.payload)
    assert row.id_number is not None
    person = registry_store.person_by_id_number(session, row.id_number)
    assert person is not None
    paper = issue_paper(
        session,
        node=node,
        actor=f"node:{env.sender}",
        type=CERTIFICATE_PAPER,
        subject=shown.subject,
        facts=shown.facts,
        valid_until=None,
        purpose=shown.purpose,
        division_code=old.division_code,
        reissue_of=msg.certificate_number,
        subject_ref=row.case_number,
    )
    row.certificate_number = paper.number
    _send_certificate(
        session, node, row, person_record(person), paper.signed, reissue_of=msg.certificate_number
    )
    audit(
        session,
        actor=f"node:{env.sender}",
        action="migration.origin.reissue",
        number=f"{row.case_node}/{row.case_number}",
        change={"certificate": paper.number, "reissue_of": msg.certificate_number},
        now=now,
    )


def local_day(node: NodeContext) -> str:
    return local_date(node.clock.now()).isoformat()
