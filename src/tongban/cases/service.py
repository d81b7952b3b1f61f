"""Use cases of cases and tasks: keyword-only arguments, one transaction each.

The clock is the node's (``node.clock``), so tests move time; the catalog, policies and calendar are the
node's ``services["cases"]`` (attached at start-up), or read once from the settings when absent (CLI).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from tongban.cases import store
from tongban.cases.calendar import DayUnit, TimeLimit, local_date
from tongban.cases.catalog import Matter, Procedure
from tongban.cases.domain import Case, CaseAction, CaseRef, Task, TaskAction, make_case_number
from tongban.cases.policy import Decision, Policy
from tongban.cases.rules import FACTS, FactValue, coerce
from tongban.cases.setup import CasesSetup, load_setup
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.i18n import N_
from tongban.core.node import NodeContext

MATERIALS_WAIT_KEY = "materials_wait"

# Called inside a use case's transaction with the session, the case's row id and the changed case: the web
# layer writes its audit row, window record and notifications there, so they commit (or not) with the change.
Then = Callable[[Session, int, Case], None]


def cases_setup(node: NodeContext) -> CasesSetup:
    setup = node.services.get("cases")
    if not isinstance(setup, CasesSetup):
        setup = load_setup(node.settings)
        node.services["cases"] = setup
    return setup


def policy_for(node: NodeContext, *, locality: str | None, day: date) -> Policy:
    return cases_setup(node).policies.for_locality(locality or node.code, day)


def overall_limit(matter: Matter, procedure: Procedure, policy: Policy) -> TimeLimit:
    """The case's official limit: the procedure's, or else the sum of its steps' limits (all of one unit)."""
    if procedure.time_limit is not None:
        return procedure.time_limit.resolve(policy)
    limits = [s.time_limit.resolve(policy) for s in procedure.steps if s.time_limit is not None]
    units = {limit.unit for limit in limits}
    if len(units) > 1:
        raise InvalidInput(
            N_("Matter {code}: steps mix working and calendar days and no overall limit is set"),
            code=matter.code,
        )
    return TimeLimit(sum(limit.value for limit in limits), units.pop() if units else DayUnit.WORKING_DAYS)


def accept_case(
    node: NodeContext,
    *,
    matter: str,
    applicant: str,
    office: str,
    actor: str,
    procedure: str | None = None,
    locality: str | None = None,
    then: Then | None = None,
    session: Session | None = None,
) -> Case:
    """Accept an application at this node: number it, start its clock, record who accepted it.

    With ``session`` (a caller's open transaction, e.g. a batch of acceptances committed together) the case
    joins that transaction instead of opening its own."""
    one = Acceptance(matter, applicant, office, actor, procedure, locality, then)
    with contextlib.nullcontext(session) if session is not None else node.db.transaction() as s:
        return accept_cases(node, [one], session=s)[0]


@dataclass(frozen=True)
class Acceptance:
    """One application of ``accept_cases``: the arguments of ``accept_case``."""

    matter: str
    applicant: str
    office: str
    actor: str
    procedure: str | None = None
    locality: str | None = None
    then: Then | None = None


def accept_cases(node: NodeContext, items: Sequence[Acceptance], *, session: Session) -> list[Case]:
    """``accept_case`` for many applications in the caller's transaction: every case numbered and added
    first (one insert for all), then each one's ``then`` in order, so that what the ``then``s add goes out
    one insert per table too."""
    setup = cases_setup(node)
    now = node.clock.now()
    today = local_date(now)
    cases: list[Case] = []
    for item in items:
        m = setup.catalog.get(item.matter)
        proc = m.procedure(item.procedure)
        policy = policy_for(node, locality=item.locality, day=today)
        if not item.applicant or not item.office:
            raise InvalidInput(N_("A case needs an applicant and an accepting office"))
        seq = store.next_case_seq(session, node=node.code, day=today)
        cases.append(
            Case.accept(
                number=make_case_number(node.code, today, seq),
                matter=m.code,
                procedure=proc.key,
                applicant=item.applicant,
                accepting_node=node.code,
                accepting_office=item.office,
                time_limit=overall_limit(m, proc, policy),
                materials_wait=policy.limit(MATERIALS_WAIT_KEY),
                calendar=setup.calendar,
                now=now,
                actor=item.actor,
            )
        )
    added = store.add_cases(session, cases)
    for item, case, loaded in zip(items, cases, added, strict=True):
        if item.then is not None:
            item.then(session, loaded.id, case)
    return cases


def get_case(node: NodeContext, *, number: str) -> Case:
    with node.db.session() as s:
        return store.load_case(s, number).obj


def list_cases(
    node: NodeContext, *, office: str | None = None, include_closed: bool = False, limit: int = 100
) -> list[Case]:
    with node.db.session() as s:
        return store.list_cases(s, office=office, include_closed=include_closed, limit=limit)


def act_on_case(
    node: NodeContext,
    *,
    number: str,
    action: CaseAction,
    actor: str,
    reason: str | None = None,
    missing: Sequence[str] = (),
    then: Then | None = None,
) -> Case:
    """A clerk's action on a case; an illegal one is refused (409) and changes nothing."""
    calendar = cases_setup(node).calendar
    now = node.clock.now()
    with node.db.transaction() as s:
        loaded = store.load_case(s, number)
        case = loaded.obj
        if action is CaseAction.START:
            case.start(now=now, actor=actor)
        elif action is CaseAction.REQUEST_MATERIALS:
            case.request_materials(missing=missing, now=now, actor=actor, calendar=calendar)
        elif action is CaseAction.RECEIVE_MATERIALS:
            case.receive_materials(now=now, actor=actor, calendar=calendar)
        elif action is CaseAction.COMPLETE:
            case.complete(now=now, actor=actor, reason=reason)
        elif action is CaseAction.REFUSE:
            case.refuse(now=now, actor=actor, reason=reason or "")
        elif action is CaseAction.WITHDRAW:
            case.withdraw(now=now, actor=actor, reason=reason)
        else:
            raise Conflict(N_("{action} is not a clerk's action"), action=action.value)
        store.save_case(s, loaded)
        if then is not None:
            then(s, loaded.id, case)
    return case


def parse_facts(raw: Mapping[str, Any]) -> dict[str, FactValue]:
    """Typed facts from form or JSON values; an unknown fact or a wrong type is refused (422)."""
    facts: dict[str, FactValue] = {}
    for name, value in raw.items():
        spec = FACTS.get(name)
        if spec is None:
            raise InvalidInput(N_("Unknown fact {name}"), name=name)
        try:
            facts[name] = coerce(spec, value)
        except ValueError:
            raise InvalidInput(N_("Fact {name} has the wrong type"), name=name) from None
    return facts


def decide_eligibility(
    node: NodeContext,
    *,
    number: str,
    facts: Mapping[str, FactValue],
    actor: str,
    locality: str | None = None,
    then: Then | None = None,
) -> Decision:
    """Evaluate the matter's rules under the local policy in force; the decision is kept with the case."""
    setup = cases_setup(node)
    now = node.clock.now()
    with node.db.transaction() as s:
        loaded = store.load_case(s, number)
        case = loaded.obj
        matter = setup.catalog.get(case.matter)
        # The policy in force on the day of acceptance decides, not a later version.
        policy = policy_for(node, locality=locality, day=case.accepted_on)
        decision = policy.decide(matter=matter.code, rule_keys=matter.rule_keys(case.procedure), facts=facts)
        case.record_decision(decision=decision.to_dict(), now=now, actor=actor)
        store.save_case(s, loaded)
        if then is not None:
            then(s, loaded.id, case)
    return decision


def receive_task(
    node: NodeContext,
    *,
    ref: str,
    case: CaseRef,
    matter: str,
    step: str,
    actor: str,
    procedure: str | None = None,
    locality: str | None = None,
) -> Task:
    """This node takes on its part of a case owned elsewhere; receiving the same task again changes nothing."""
    setup = cases_setup(node)
    m = setup.catalog.get(matter)
    steps = {s.key: s for s in m.procedure(procedure).steps}
    if step not in steps:
        raise InvalidInput(N_("Matter {code} has no step {step}"), code=matter, step=step)
    now = node.clock.now()
    spec = steps[step].time_limit
    policy = policy_for(node, locality=locality, day=local_date(now)) if spec and spec.policy else None
    limit = spec.resolve(policy) if spec is not None else TimeLimit.working_days(0)
    with node.db.transaction() as s:
        existing = store.find_task(s, ref)
        if existing is not None:
            if (existing.obj.case, existing.obj.step) != (case, step):
                raise Conflict(N_("Task {ref} exists for another case or step"), ref=ref)
            return existing.obj
        task = Task.receive(
            ref=ref,
            case=case,
            owner_node=node.code,
            matter=m.code,
            step=step,
            time_limit=limit,
            calendar=setup.calendar,
            now=now,
            actor=actor,
        )
        store.add_task(s, task)
    return task


def act_on_task(
    node: NodeContext, *, ref: str, action: TaskAction, actor: str, reason: str | None = None
) -> Task:
    now = node.clock.now()
    if action is TaskAction.MARK_OVERDUE:
        raise Conflict(N_("{action} is not a clerk's action"), action=action.value)
    with node.db.transaction() as s:
        loaded = store.load_task(s, ref)
        loaded.obj.apply(action, now=now, actor=actor, reason=reason)
        store.save_task(s, loaded)
    return loaded.obj


def get_task(node: NodeContext, *, ref: str) -> Task:
    with node.db.session() as s:
        return store.load_task(s, ref).obj


def list_tasks(node: NodeContext, *, include_closed: bool = False, limit: int = 100) -> list[Task]:
    with node.db.session() as s:
        return store.list_tasks(s, include_closed=include_closed, limit=limit)
