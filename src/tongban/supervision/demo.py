"""Synthetic cases for a demo node, so the supervisor's charts show something: never real people.

Cases are made through the cases domain (``Case.accept`` and its transitions, the node's calendar and local
policies), as if windows had accepted them over the last weeks, and stored with their histories and window
records. Applicants are random opaque references: no ID number, name or contact is made up.

The mix is drawn from a seeded random generator: most older cases are completed (some late, having been marked
overdue by the sweep), a few refused or withdrawn; some wait for materials; some open ones are past their
deadline. The same seed and day give the same cases.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tongban.cases import service as cases_service
from tongban.cases import store
from tongban.cases.calendar import CHINA_TZ, WorkingCalendar, local_date
from tongban.cases.catalog import Matter
from tongban.cases.domain import Case, make_case_number
from tongban.cases.tables import CaseWindowRow
from tongban.core.errors import TongbanError
from tongban.core.node import NodeContext

ACTOR = "demo-window"
DAYS = 60


@dataclass(frozen=True)
class DemoCases:
    total: int
    open: int
    overdue: int


def _at(day: date, minutes: int) -> datetime:
    """``minutes`` after 08:30 China time on ``day``."""
    start = datetime.combine(day, time(8, 30), CHINA_TZ) + timedelta(minutes=minutes)
    return start.astimezone(UTC)


def _pick_matter(rng: random.Random, matters: Sequence[Matter]) -> Matter:
    weights = [
        6 if m.code.startswith("MIG") else 3 if m.code in ("CERT", "IDCARD", "BIRTH") else 1 for m in matters
    ]
    return rng.choices(list(matters), weights=weights)[0]


def seed_cases(
    node: NodeContext,
    *,
    offices: Sequence[tuple[str, str]],
    now: datetime,
    seed: int,
    per_day: int = 6,
    days: int = DAYS,
) -> DemoCases:
    """Accept about ``per_day`` cases a working day over the last ``days`` days at ``offices``
    ((office code, six-digit division) pairs), each moved on as far as its age allows by ``now``."""
    setup = cases_service.cases_setup(node)
    calendar = setup.calendar
    matters = list(setup.catalog)
    rng = random.Random(f"{seed}:{node.code}")
    today = local_date(now)
    made = open_ = overdue = 0
    with node.db.transaction() as s:
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            if not calendar.is_workday(day):
                continue
            for _ in range(max(0, round(rng.gauss(per_day, per_day / 3)))):
                accepted_at = _at(day, rng.randrange(0, 8 * 60))
                if accepted_at >= now:
                    continue
                office, division = rng.choice(list(offices))
                matter = _pick_matter(rng, matters)
                proc = rng.choice(list(matter.procedures))
                try:
                    policy = setup.policies.for_locality(division, day)
                    limit = cases_service.overall_limit(matter, proc, policy)
                    wait = policy.limit(cases_service.MATERIALS_WAIT_KEY)
                except TongbanError:
                    continue
                seq = store.next_case_seq(s, node=node.code, day=day)
                case = Case.accept(
                    number=make_case_number(node.code, day, seq),
                    matter=matter.code,
                    procedure=proc.key,
                    applicant="cid:demo" + secrets.token_hex(16),
                    accepting_node=node.code,
                    accepting_office=office,
                    time_limit=limit,
                    materials_wait=wait,
                    calendar=calendar,
                    now=accepted_at,
                    actor=ACTOR,
                )
                _move_on(case, rng, now, calendar)
                loaded = store.add_case(s, case)
                s.add(
                    CaseWindowRow(
                        case_id=loaded.id,
                        division_code=division,
                        applicant_masked=division + "********" + f"{rng.randrange(10000):04d}",
                        locale="zh_CN",
                    )
                )
                made += 1
                open_ += not case.is_closed
                overdue += case.is_overdue(now)
    return DemoCases(made, open_, overdue)


def _move_on(case: Case, rng: random.Random, now: datetime, calendar: WorkingCalendar) -> None:
    """Take a new case through the life its age allows: start, maybe a materials wait, then an outcome."""
    assert case.accepted_at is not None
    # Most are taken up the same day; some wait a few days in the queue.
    delay = rng.randrange(20, 600) if rng.random() < 0.75 else rng.randrange(1440, 4 * 1440)
    clock = case.accepted_at + timedelta(minutes=delay)
    if clock >= now:
        return
    if rng.random() < 0.05:
        case.withdraw(now=clock, actor=ACTOR, reason="demo: withdrawn by the applicant")
        return
    if rng.random() < 0.15:
        case.request_materials(missing=["demo_material"], now=clock, actor=ACTOR, calendar=calendar)
        back = clock + timedelta(days=rng.randrange(1, 12), hours=rng.randrange(0, 6))
        if back >= now:
            return
        assert case.materials_deadline_at is not None
        if back >= case.materials_deadline_at:
            case.expire_materials_wait(now=case.materials_deadline_at, actor="sweep")
            return
        case.receive_materials(now=back, actor=ACTOR, calendar=calendar)
        clock = back
    else:
        case.start(now=clock, actor=ACTOR)
    # How long the office takes: mostly well within the limit, sometimes past it.
    assert case.deadline_at is not None
    allowed = case.deadline_at - clock
    share = rng.choice([0.2, 0.35, 0.5, 0.6, 0.75, 0.9, 0.95, 1.15, 1.4, 3.0])  # 3.0: a stalled case
    done = clock + max(allowed * share, timedelta(hours=1))
    if done > case.deadline_at:
        marked = max(case.deadline_at, clock) + timedelta(minutes=5)
        if marked >= now:
            return
        case.mark_overdue(now=marked, actor="sweep")
        done = max(done, marked + timedelta(minutes=1))
    if done >= now:
        return
    if rng.random() < 0.08:
        case.refuse(now=done, actor=ACTOR, reason="demo: conditions not met")
    else:
        case.complete(now=done, actor=ACTOR)
