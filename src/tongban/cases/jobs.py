"""The deadline sweep: marks overdue cases and tasks, and closes cases whose materials wait ended.

Safe with several workers: each candidate row is handled in its own transaction and saved with a
compare-and-set on its version, so when two sweepers pick the same row one wins and the other's save (or
the domain's "already marked") refuses, rolls back and moves on. Every mark is an event in the history.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from tongban.cases import store
from tongban.cases.domain import TaskAction
from tongban.core.errors import Conflict
from tongban.core.node import NodeContext

log = logging.getLogger(__name__)

SWEEP_ACTOR = "system:deadline-sweep"


@dataclass
class SweepResult:
    cases_overdue: list[str] = field(default_factory=list)
    cases_closed: list[str] = field(default_factory=list)
    tasks_overdue: list[str] = field(default_factory=list)
    lost_races: int = 0

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


def sweep_deadlines(node: NodeContext, *, batch: int = 200, actor: str = SWEEP_ACTOR) -> SweepResult:
    """One pass over the node's deadlines; returns what it changed (for notifying supervisors)."""
    now = node.clock.now()
    result = SweepResult()
    with node.db.session() as s:
        overdue = store.overdue_case_ids(s, now=now, limit=batch)
        expired = store.expired_wait_case_ids(s, now=now, limit=batch)
        tasks = store.overdue_task_ids(s, now=now, limit=batch)

    def mark_case(s: Session, case_id: int) -> str:
        loaded = store.load_case_by_id(s, case_id)
        loaded.obj.mark_overdue(now=now, actor=actor)
        store.save_case(s, loaded)
        return loaded.obj.number

    def close_case(s: Session, case_id: int) -> str:
        loaded = store.load_case_by_id(s, case_id)
        loaded.obj.expire_materials_wait(now=now, actor=actor)
        store.save_case(s, loaded)
        return loaded.obj.number

    def mark_task(s: Session, task_id: int) -> str:
        loaded = store.load_task_by_id(s, task_id)
        loaded.obj.apply(TaskAction.MARK_OVERDUE, now=now, actor=actor)
        store.save_task(s, loaded)
        return loaded.obj.ref

    _each(node, overdue, mark_case, result.cases_overdue, result)
    _each(node, expired, close_case, result.cases_closed, result)
    _each(node, tasks, mark_task, result.tasks_overdue, result)
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
