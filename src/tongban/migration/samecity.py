"""Same-city one-stop (同城通办): any office of a city moves a person between two households of that city.

One transaction: the case (accepted at the window with its record and slip message), the local policy's
decision kept with it, and, when the policy is met, the move within the node (journal ``case_ref`` = the case
number) and the case completed; when it is not, the case is refused with the decision's explanation. While a
migration of the person is open here (as destination or origin), a same-city move is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from tongban.cases import store as cases_store
from tongban.cases import window
from tongban.cases.calendar import local_date
from tongban.cases.service import cases_setup, parse_facts, policy_for
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.migration import store
from tongban.migration.common import audit, notify_applicant
from tongban.migration.domain import MATTERS, REFUSAL_TEXTS, DestState, Refusal, same_city
from tongban.migration.service import MIG_REFUSED, MIG_SETTLED, MigrationView, view_of
from tongban.migration.tables import MigrationCaseRow
from tongban.registry import service as registry
from tongban.registry import store as registry_store
from tongban.registry.queries import find_household, find_person


def move_in_city(
    node: NodeContext,
    *,
    actor: window.Actor,
    applicant: window.Applicant,
    matter: str,
    facts: Mapping[str, Any],
    household_number: str,
    relation: str,
    new_head_id_number: str | None = None,
) -> MigrationView:
    """Accept, decide and (if eligible) move in one transaction; see the module's description."""
    if matter not in MATTERS:
        raise InvalidInput(N_("{code} is not a migration matter"), code=matter)
    typed = parse_facts(facts)
    m = cases_setup(node).catalog.get(matter)
    holder: dict[str, MigrationView] = {}

    def then(s: Session, case_id: int, case: Any) -> None:
        now = node.clock.now()
        person = find_person(s, applicant.id_number)
        state = registry_store.state_of(s, person.id, lock=True)
        if state is None or state.status != "active" or state.division_code is None:
            raise Conflict(N_("The person is not actively registered here"))
        target = find_household(s, household_number)
        if not same_city(state.division_code, target.division_code):
            raise InvalidInput(
                N_("Household {number} is not in the city where the person is registered"),
                number=household_number,
            )
        ref = window.applicant_ref(node, applicant.id_number)
        other = store.open_of(s, ref)
        if other is not None:
            raise Conflict(
                N_("Another migration of this person is open: case {number}"), number=other.case_number
            )
        origin_household = (
            registry_store.household_by_id(s, state.household_id) if state.household_id else None
        )
        loaded = cases_store.load_case_by_id(s, case_id)
        policy = policy_for(node, locality=target.division_code, day=local_date(now))
        decision = policy.decide(matter=m.code, rule_keys=m.rule_keys(case.procedure), facts=typed)
        loaded.obj.record_decision(decision=decision.to_dict(), now=now, actor=actor.id)
        row = MigrationCaseRow(
            case_number=case.number,
            matter=m.code,
            origin=node.code,
            routed_by="same-city",
            id_number=applicant.id_number,
            person_ref=ref,
            state=DestState.SETTLED.value,
            household_number=target.number,
            relation=relation,
            destination_division=target.division_code,
            destination_address=target.address,
            origin_division=state.division_code,
            origin_address=origin_household.address if origin_household else "-",
            record={"name": person.name},
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        if decision.eligible:
            loaded.obj.start(now=now, actor=actor.id)
            view = registry.move_within_node(
                node,
                session=s,
                actor=actor.id,
                id_number=applicant.id_number,
                to_household=target.number,
                relation=relation,
                reason="same-city migration",
                case_ref=case.number,
                new_head_id_number=new_head_id_number,
            )
            row.moved_in_on = view.since
            loaded.obj.complete(now=now, actor=actor.id, reason="moved within the city")
            message: str = MIG_SETTLED
            params: dict[str, Any] = {"number": case.number, "household": target.number}
        else:
            row.state, row.reason = DestState.REFUSED.value, Refusal.NOT_ELIGIBLE.value
            loaded.obj.refuse(now=now, actor=actor.id, reason=Refusal.NOT_ELIGIBLE.value)
            message = MIG_REFUSED
            params = {"number": case.number, "reason": {"msgid": REFUSAL_TEXTS[Refusal.NOT_ELIGIBLE]}}
        cases_store.save_case(s, loaded)
        audit(
            s,
            actor=actor.id,
            action="migration.same_city.move",
            number=case.number,
            change={"eligible": decision.eligible, "to": target.number, "policy": decision.policy_version},
            now=now,
        )
        notify_applicant(
            s, case_id=case_id, number=case.number, key="same-city", message=message, params=params, now=now
        )
        s.flush()
        holder["view"] = view_of(node, s, row, applicant.locale)

    window.accept(node, actor=actor, matter=matter, applicant=applicant, then=then)
    return holder["view"]
