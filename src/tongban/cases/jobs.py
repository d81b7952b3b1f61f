"""The deadline sweep: marks overdue cases and tasks, and closes cases whose materials wait ended.

Safe with several workers: each candidate row is handled in its own transaction and saved with a
compare-and-set on its version, so when two sweepers pick the same row one wins and the other's save (or
the domain's "already marked") refuses, rolls back and moves on. Every mark is an event in the history.

Other capabilities add their own deadline steps with ``register_step(name, fn)`` (e.g. migration: the
certificates nearing their end, surfaced to the destination's staff); ``fn(node, now)`` returns what it
newly surfaced and must be idempotent, as several sweepers may run it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from tongban.audit.service import record_audit
from tongban.cases import notify, store
from tongban.cases.domain import Case, TaskAction
from tongban.cases.service import cases_setup
from tongban.cases.tables import CaseWindowRow
from tongban.core.errors import Conflict
from tongban.core.i18n import N_
from tongban.core.node import NodeContext

log = logging.getLogger(__name__)

SWEEP_ACTOR = "system:deadline-sweep"
CLOSED_FOR_MATERIALS = N_("materials not supplied")


def _matter_names(node: NodeContext, code: str) -> dict[str, str]:
    names = cases_setup(node).catalog.get(code).name
    return {"zh_CN": names.zh_CN, "en": names.en}


SweepStep = Callable[[NodeContext, datetime], list[str]]
_steps: dict[str, SweepStep] = {}


def register_step(name: str, fn: SweepStep) -> None:
    """Run ``fn(node, now)`` in every sweep pass after the cases' own deadlines (registered on import)."""
    _steps[name] = fn


@dataclass
class SweepResult:
    cases_overdue: list[str] = field(default_factory=list)
    cases_closed: list[str] = field(default_factory=list)
    tasks_overdue: list[str] = field(default_factory=list)
    lost_races: int = 0
    messages_sent: int = 0
    surfaced: dict[str, list[str]] = field(default_factory=dict)  # by registered step

    @property
    def changed(self) -> int:
        return len(self.cases_overdue) + len(self.cases_closed) + len(self.tasks_overdue)


def _each(
    node: NodeContext,
    ids: list[int],
    work: Callable[[Session, int], str],
    into: list[str],
    result: SweepResult,
) -> None:
    for row_id in ids:
        try:
            with node.db.transaction() as s:
                into.append(work(s, row_id))
        except Conflict:
            result.lost_races += 1  # another worker (or a clerk) changed the row first: nothing to do


def sweep_deadlines(
    node: NodeContext, *, batch: int = 200, actor: str = SWEEP_ACTOR, deliver: bool = True
) -> SweepResult:
    """One pass over the node's deadlines; returns what it changed (for notifying supervisors)."""
    now = node.clock.now()
    result = SweepResult()
    with node.db.session() as s:
        overdue = store.overdue_case_ids(s, now=now, limit=batch)
        expired = store.expired_wait_case_ids(s, now=now, limit=batch)
        tasks = store.overdue_task_ids(s, now=now, limit=batch)

    def audit(s: Session, case: Case, action: str) -> None:
        record_audit(
            s,
            actor=actor,
            action=action,
            object_type="case",
            object_id=case.number,
            change={"state": case.state.value, "event": case.events[-1].seq},
            at=now,
        )

    def mark_case(s: Session, case_id: int) -> str:
        loaded = store.load_case_by_id(s, case_id)
        case = loaded.obj
        case.mark_overdue(now=now, actor=actor)
        store.save_case(s, loaded)
        audit(s, case, "cases.case.mark_overdue")
        w = s.get(CaseWindowRow, case_id)
        matter = _matter_names(node, case.matter)
        notify.notify_supervisors(
            s,
            key=f"case:{case.number}:overdue",
            office=case.accepting_office,
            division=w.division_code if w is not None else None,
            message=notify.CASE_OVERDUE,
            params={
                "number": case.number,
                "matter": matter,
                "office": case.accepting_office,
                "due": case.due.isoformat() if case.due else "",
            },
            now=now,
            case_number=case.number,
            default_locale=node.settings.default_locale,
        )
        return case.number

    def close_case(s: Session, case_id: int) -> str:
        loaded = store.load_case_by_id(s, case_id)
        case = loaded.obj
        case.expire_materials_wait(now=now, actor=actor)
        store.save_case(s, loaded)
        audit(s, case, "cases.case.expire_materials_wait")
        w = s.get(CaseWindowRow, case_id)
        if w is not None:
            notify.notify_applicant(
                s,
                key=f"case:{case.number}:event:{case.events[-1].seq}",
                case_number=case.number,
                phone=w.phone,
                email=w.email,
                locale=w.locale,
                message=notify.CASE_CLOSED,
                params={"number": case.number, "reason": {"msgid": CLOSED_FOR_MATERIALS}},
                now=now,
            )
        return case.number

    def mark_task(s: Session, task_id: int) -> str:
        loaded = store.load_task_by_id(s, task_id)
        loaded.obj.apply(TaskAction.MARK_OVERDUE, now=now, actor=actor)
        store.save_task(s, loaded)
        return loaded.obj.ref

    _each(node, overdue, mark_case, result.cases_overdue, result)
    _each(node, expired, close_case, result.cases_closed, result)
    _each(node, tasks, mark_task, result.tasks_overdue, result)
    for name, step in list(_steps.items()):
        try:
            found = step(node, now)
        except Exception:  # one capability's step never stops the cases' deadlines
            log.exception("deadline sweep step %s on %s failed", name, node.code)
            continue
        if found:
            result.surfaced[name] = found
    if deliver:
        # SMS and e-mail written by this pass (and any left by earlier ones) go out now, at least once.
        result.messages_sent = notify.deliver_pending(node).sent
    if result.changed or result.lost_races:
        log.info(
            "deadline sweep on %s: %d cases overdue, %d closed for missing materials, %d tasks overdue, %d lost races",
            node.code,
            len(result.cases_overdue),
            len(result.cases_closed),
            len(result.tasks_overdue),
            result.lost_races,
        )
    return result


def run_sweeps(
    nodes: Sequence[NodeContext],
    *,
    interval_s: float,
    stop: threading.Event,
    on_result: Callable[[NodeContext, SweepResult], None] | None = None,
) -> int:
    """Sweep every node, then wait ``interval_s`` (or until ``stop``), until ``stop`` is set; returns passes.

    A failing pass is logged with its error and the loop goes on: one bad row or a database restart does
    not stop the deadlines of the others.
    """
    passes = 0
    while not stop.is_set():
        for node in nodes:
            try:
                result = sweep_deadlines(node)
            except Exception:
                log.exception("deadline sweep on %s failed; retrying in %.1fs", node.code, interval_s)
                continue
            if on_result is not None:
                on_result(node, result)
        passes += 1
        stop.wait(interval_s)
    return passes
