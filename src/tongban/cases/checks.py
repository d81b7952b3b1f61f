"""The cases' invariant checks (``tongban check``): every case and task is terminal or has a live deadline
(DESIGN.md, invariant 2), and every person in transit is owned by an open case (invariant 1).

The in-transit contract with the migration saga: the origin's registry journal entry that put the person in
transit names the owning case in ``case_ref``: the destination's case number ``<node>-<YYYYMMDD>-<seq>``, whose
first six digits are the destination node. That case must exist there and not be closed, unless a message
about it is still in flight (``NationView.pending_case_refs``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import and_, or_, select

from tongban.cases.domain import CaseState, TaskState
from tongban.cases.tables import CaseRow, TaskRow
from tongban.core.checks import Check, Finding, NationView, check
from tongban.registry.checks import IN_TRANSIT, last_entries

CASE_NUMBER = re.compile(r"^(\d{6})-(\d{8})-(\d{6})$")
_CHUNK = 500  # case numbers per IN (...) list

OPEN_CASE = (CaseState.ACCEPTED.value, CaseState.IN_PROGRESS.value)
PAUSED_CASE = CaseState.AWAITING_MATERIALS.value
CLOSED = CaseState.CLOSED.value
OPEN_TASK = (TaskState.OPEN.value, TaskState.IN_PROGRESS.value)


def _has_cases(view: NationView, code: str) -> bool:
    return view.has_table(code, CaseRow.__tablename__)


@check(
    "case.no-live-deadline",
    "case.wait-expired",
    "case.closed-without-reason",
    "case.unknown-state",
    "task.no-live-deadline",
    "task.closed-without-outcome",
    "task.unknown-state",
)
def cases_terminal_or_due(view: NationView) -> Iterator[Finding]:
    """Open cases have an official deadline; a paused clock's wait has its own and has not long passed; closed
    cases and tasks say why. One query per table and node."""
    stuck_before = view.now - timedelta(seconds=view.settings.stuck_grace_s)
    states = {s.value for s in CaseState}
    task_states = {s.value for s in TaskState}
    for code in sorted(view.nodes):
        if not _has_cases(view, code):
            continue
        with view.session(code) as s:
            rows = s.execute(
                select(
                    CaseRow.number,
                    CaseRow.state,
                    CaseRow.deadline_at,
                    CaseRow.materials_deadline_at,
                    CaseRow.paused_since,
                    CaseRow.close_reason,
                    CaseRow.closed_at,
                ).where(
                    or_(
                        and_(CaseRow.state.in_(OPEN_CASE), CaseRow.deadline_at.is_(None)),
                        and_(
                            CaseRow.state == PAUSED_CASE,
                            or_(
                                CaseRow.materials_deadline_at.is_(None),
                                CaseRow.paused_since.is_(None),
                                CaseRow.materials_deadline_at < stuck_before,
                            ),
                        ),
                        and_(
                            CaseRow.state == CLOSED,
                            or_(CaseRow.close_reason.is_(None), CaseRow.closed_at.is_(None)),
                        ),
                        CaseRow.state.not_in(sorted(states)),
                    )
                )
            )
            for number, state, _deadline, wait_deadline, paused, reason, _closed in rows:
                if state not in states:
                    yield Finding("case.unknown-state", code, number, f"state {state!r} is not a case state")
                elif state in OPEN_CASE:
                    yield Finding(
                        "case.no-live-deadline", code, number, f"{state} without an official deadline"
                    )
                elif state == PAUSED_CASE and (wait_deadline is None or paused is None):
                    yield Finding(
                        "case.no-live-deadline",
                        code,
                        number,
                        "waiting for materials without a deadline for the wait"
                        if wait_deadline is None
                        else "waiting for materials, but the official clock is not paused",
                    )
                elif state == PAUSED_CASE:
                    yield Finding(
                        "case.wait-expired",
                        code,
                        number,
                        f"the wait for materials ended {wait_deadline:%Y-%m-%d %H:%M} UTC; the case is still open",
                    )
                else:
                    yield Finding(
                        "case.closed-without-reason",
                        code,
                        number,
                        "closed without a reason" if reason is None else "closed without a closing time",
                    )
            tasks = s.execute(
                select(TaskRow.ref, TaskRow.state, TaskRow.outcome, TaskRow.case_number).where(
                    or_(
                        and_(TaskRow.state.in_(OPEN_TASK), TaskRow.deadline_at.is_(None)),
                        and_(
                            TaskRow.state == TaskState.CLOSED.value,
                            or_(TaskRow.outcome.is_(None), TaskRow.closed_at.is_(None)),
                        ),
                        TaskRow.state.not_in(sorted(task_states)),
                    )
                )
            )
            for ref, state, outcome, case_number in tasks:
                subject = f"task:{ref} of {case_number}"
                if state not in task_states:
                    yield Finding("task.unknown-state", code, subject, f"state {state!r} is not a task state")
                elif state in OPEN_TASK:
                    yield Finding("task.no-live-deadline", code, subject, f"{state} without a deadline")
                else:
                    yield Finding(
                        "task.closed-without-outcome",
                        code,
                        subject,
                        "closed without an outcome" if outcome is None else "closed without a closing time",
                    )


@check("person.in-transit-without-open-case")
def in_transit_owned_by_open_case(view: NationView) -> Iterator[Finding]:
    """Each person in transit names, in the journal entry that put them there, an open case of the destination."""
    wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))  # dest -> number -> refs
    for code in sorted(view.nodes):
        if not view.has_table(code, "registry_person_state"):
            continue
        for pid, entry in sorted(last_entries(view, code, (IN_TRANSIT,)).items()):
            ref = f"person:{code}:{pid}"
            number = (entry.case_ref or "").strip()
            match = CASE_NUMBER.match(number)
            if match is None:
                yield Finding(
                    "person.in-transit-without-open-case",
                    code,
                    ref,
                    "in transit without an owning case number"
                    if not number
                    else "in transit; the owning case reference is not a case number",
                )
                continue
            dest = match.group(1)
            if dest not in view.nodes or not _has_cases(view, dest):
                yield Finding(
                    "person.in-transit-without-open-case",
                    code,
                    ref,
                    f"in transit, owned by case {number} of node {dest}, which is not part of this check",
                )
                continue
            wanted[dest][number].append(ref)
    for dest, numbers in sorted(wanted.items()):
        found: dict[str, str] = {}
        ordered = sorted(numbers)
        with view.session(dest) as s:
            for start in range(0, len(ordered), _CHUNK):
                chunk = ordered[start : start + _CHUNK]
                found.update(
                    (n, st)
                    for n, st in s.execute(
                        select(CaseRow.number, CaseRow.state).where(CaseRow.number.in_(chunk))
                    )
                )
        for number in ordered:
            state = found.get(number)
            if state is not None and state != CLOSED:
                continue
            if state == CLOSED and number in view.pending_case_refs:
                continue  # the closing's message to the origin is still on its way
            for ref in numbers[number]:
                yield Finding(
                    "person.in-transit-without-open-case",
                    ref.split(":")[1],
                    ref,
                    f"in transit, owned by case {number}, which "
                    + ("does not exist at " + dest if state is None else "is closed"),
                )


CHECKS: list[Check] = [cases_terminal_or_due, in_transit_owned_by_open_case]
