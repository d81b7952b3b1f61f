"""Who reaches an origin's move-out task: the jurisdiction of ``cases.task.decide`` over the person's division
here (while in transit, or after the move-out, the division they were last registered in). Used by the queue
and task pages and by the API alike: a task outside the user's jurisdiction is left out of the queue, and
asked for by number it answers 404 like a missing one, the attempt audited (``migration.origin.denied``: the
case number and the route only)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from tongban.access.domain import Allow, Principal, Target, decide
from tongban.audit.service import record_audit
from tongban.core.errors import NotFound
from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.migration import store
from tongban.registry import store as registry_store

TASK_DECIDE = "cases.task.decide"


def task_division(node: NodeContext, case_number: str) -> tuple[str | None, Any, Any]:
    """The task row, the person registered here (or None) and their state: the division decides the scope."""
    with node.db.session() as s:
        row = store.task_row(s, case_number)
        if row is None:
            return None, None, (None, None)
        person = registry_store.person_by_id_number(s, row.id_number) if row.id_number else None
        state = registry_store.state_of(s, person.id) if person is not None else None
        division = state.division_code if state is not None else None
        if division is None and person is not None:
            # Moved out (in transit, or gone): the jurisdiction is where they were last registered here.
            placed = registry_store.last_placed_entry(s, person.id)
            division = placed.division_code if placed is not None else None
        for obj in (row, person, state):
            if obj is not None:
                s.expunge(obj)
        return division, row, (person, state)


def task_in_scope(user: Principal, division: str | None) -> bool:
    return isinstance(decide(user, TASK_DECIDE, Target(division_code=division)), Allow)


def checked_task(
    request: Request, node: NodeContext, user: Principal, case_number: str
) -> tuple[str | None, Any, Any]:
    """``task_division`` of a task within the user's jurisdiction, else 404 (a missing task too), the
    attempt audited."""
    division, row, found = task_division(node, case_number)
    if row is None or not task_in_scope(user, division):
        with node.db.transaction() as s:
            record_audit(
                s,
                actor=user.id,
                action="migration.origin.denied",
                object_type="case",
                object_id=case_number[:64],
                change={"route": request.url.path[:200]},
                at=node.clock.now(),
            )
        raise NotFound(N_("Not found"))
    return division, row, found
