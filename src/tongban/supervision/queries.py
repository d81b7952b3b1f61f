"""The supervisor's figures over the cases capability's tables: set-based queries, SQLite and PostgreSQL.

Everything is counted in the database (``GROUP BY`` with conditional sums), never by loading cases: volumes of
accepted cases per day of the period, open cases by state, cases concluded on time or late, cases and tasks
overdue now and due within one or three working days, broken down by matter, accepting office and
cross-province mode. Each query reads one index-friendly slice of ``cases_case`` (accepted in the period, open
now, closed in the period), so the cost follows the period and the open work, not the node's whole history.

A reach (``Reach``) keeps every figure within the supervisor's jurisdiction: an office, or a division prefix
(county: six digits, province: two, nation: none) matched against the window record of the case. Tasks carry
no office or division, only the node that owns them: they count for those whose reach covers the whole node
(a province's supervisors and wider).

Days are China's days (the accepting window's calendar): an instant belongs to the day it falls on in UTC+8.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from tongban.cases.calendar import CHINA_TZ, DayUnit, TimeLimit, WorkingCalendar, local_date
from tongban.cases.catalog import MatterCatalog
from tongban.cases.domain import CaseState, CloseReason, TaskState
from tongban.cases.tables import CaseRow, CaseWindowRow, TaskRow
from tongban.core.i18n import N_

Q = TypeVar("Q", bound=Select)  # type: ignore[type-arg]  # any select, whatever its columns

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
OVERDUE_LIST_LIMIT = 50

RUNNING = (CaseState.ACCEPTED.value, CaseState.IN_PROGRESS.value)
OPEN_STATES = (CaseState.ACCEPTED, CaseState.IN_PROGRESS, CaseState.AWAITING_MATERIALS)
OPEN_TASK = (TaskState.OPEN.value, TaskState.IN_PROGRESS.value)
# Closed by a decision of the office: what an on-time rate is about (a withdrawal or an applicant who never
# brought the materials says nothing about the office's speed).
CONCLUDED = (CloseReason.COMPLETED.value, CloseReason.REFUSED.value)
UNKNOWN_MODE = "unknown"

MODE_LABELS = {
    "fully_online": N_("fully online"),
    "accept_here_decide_there": N_("accepted here, decided there"),
    "joint_handling": N_("joint handling"),
    "local": N_("local"),
    UNKNOWN_MODE: N_("unknown mode"),
}


@dataclass(frozen=True)
class Reach:
    """Where the figures come from: one office, or cases whose window division starts with ``division``."""

    office: str | None = None
    division: str | None = None  # '' = the whole node
    tasks: bool = False  # whether the node's tasks are within reach

    def __post_init__(self) -> None:
        if self.office is None and self.division is None:
            raise ValueError("a reach names an office or a division prefix")


@dataclass(frozen=True)
class Group:
    """One row of a breakdown (a matter, an office or a mode)."""

    key: str
    accepted: int = 0
    open: int = 0
    overdue: int = 0
    on_time: int = 0
    late: int = 0
    by_state: dict[str, int] = field(default_factory=dict)

    @property
    def concluded(self) -> int:
        return self.on_time + self.late


@dataclass(frozen=True)
class OverdueItem:
    kind: str  # "case" | "task"
    number: str
    node: str
    matter: str
    office: str | None
    due: date | None
    deadline_at: datetime | None
    late_days: int
    unit: DayUnit


@dataclass(frozen=True)
class Figures:
    period_days: int
    first_day: date
    today: date
    accepted_per_day: list[tuple[date, int]]
    open_by_state: dict[str, int]
    closed_by_reason: dict[str, int]
    on_time: int
    late: int
    overdue_cases: int
    overdue_tasks: int | None  # None: tasks are not within reach
    due_within: dict[int, int]  # working days -> open running cases due by then (not yet overdue)
    by_matter: list[Group]
    by_procedure: list[Group]  # key "MATTER/procedure": what the mode breakdown is made of
    by_office: list[Group]
    overdue_items: list[OverdueItem]

    @property
    def accepted(self) -> int:
        return sum(n for _, n in self.accepted_per_day)

    @property
    def open(self) -> int:
        return sum(self.open_by_state.values())

    @property
    def on_time_rate(self) -> float | None:
        concluded = self.on_time + self.late
        return self.on_time / concluded if concluded else None

    def accepted_per_week(self) -> list[tuple[date, int]]:
        """Accepted cases per week (Monday first), for the weeks the period touches."""
        weeks: dict[date, int] = {}
        for day, n in self.accepted_per_day:
            monday = day - timedelta(days=day.weekday())
            weeks[monday] = weeks.get(monday, 0) + n
        return sorted(weeks.items())

    def by_mode(self, catalog: MatterCatalog) -> list[Group]:
        modes: dict[str, list[Group]] = {}
        for g in self.by_procedure:
            matter, _, procedure = g.key.partition("/")
            modes.setdefault(mode_of(catalog, matter, procedure), []).append(g)
        return _sorted([_sum_groups(key, groups) for key, groups in modes.items()])


def mode_of(catalog: MatterCatalog, matter: str, procedure: str) -> str:
    """The cross-province mode of a matter's procedure (the procedure's own, else the matter's)."""
    try:
        m = catalog.get(matter)
        return str((m.procedure(procedure).mode or m.mode).value)
    except Exception:  # a case of a matter since removed from the catalog
        return UNKNOWN_MODE


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), CHINA_TZ).astimezone(UTC)


def _local_day(s: Session, column: Any) -> ColumnElement[Any]:
    """The China date of a stored instant, in SQL (SQLite keeps ISO 8601 text with its zone)."""
    if s.get_bind().dialect.name == "sqlite":
        return func.date(column, "+8 hours")
    return func.date(func.timezone("Asia/Shanghai", column))


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _within(q: Q, reach: Reach, dialect: str) -> Q:
    if reach.office is not None:
        q = q.where(CaseRow.accepting_office == reach.office)
    if reach.division:
        q = q.join(CaseWindowRow, CaseWindowRow.case_id == CaseRow.id)
        if dialect == "sqlite":
            # An expression, deliberately not the division index: SQLite keeps no statistics and would drive
            # the query from that index, through years of a county's cases, instead of the period's few weeks.
            q = q.where(func.substr(CaseWindowRow.division_code, 1, len(reach.division)) == reach.division)
        else:
            # A range PostgreSQL estimates from its statistics (it misjudges an expression's selectivity).
            upper = reach.division[:-1] + chr(ord(reach.division[-1]) + 1)
            q = q.where(CaseWindowRow.division_code >= reach.division, CaseWindowRow.division_code < upper)
    return q


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def figures(
    s: Session,
    *,
    reach: Reach,
    period_days: int,
    now: datetime,
    calendar: WorkingCalendar,
    soon: Sequence[int] = (1, 3),
) -> Figures:
    if period_days not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    dialect = s.get_bind().dialect.name
    today = local_date(now)
    first_day = today - timedelta(days=period_days - 1)
    start = start_of_day(first_day)
    due_by = {n: calendar.due(today, TimeLimit.working_days(n)).due for n in soon}

    # 1. accepted in the period, per day and per (matter, procedure, office)
    day = _local_day(s, CaseRow.accepted_at).label("day")
    in_period = CaseRow.accepted_at >= start
    per_day = {
        _as_date(d): int(n)
        for d, n in s.execute(
            _within(select(day, func.count()).where(in_period), reach, dialect).group_by(day)
        )
    }
    accepted_per_day = [(first_day + timedelta(days=i), 0) for i in range(period_days)]
    accepted_per_day = [(d, per_day.get(d, 0)) for d, _ in accepted_per_day]

    keys = (CaseRow.matter, CaseRow.procedure, CaseRow.accepting_office)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}

    def slot(matter: str, procedure: str, office: str) -> dict[str, Any]:
        return rows.setdefault(
            (matter, procedure, office),
            {"accepted": 0, "open": 0, "overdue": 0, "on_time": 0, "late": 0, "by_state": {}},
        )

    q_accepted = _within(select(*keys, func.count()).where(in_period), reach, dialect).group_by(*keys)
    for matter, procedure, office, n in s.execute(q_accepted):
        slot(matter, procedure, office)["accepted"] += int(n)

    # 2. open now, by state, with what is overdue and what falls due soon
    overdue = and_(CaseRow.state.in_(RUNNING), CaseRow.deadline_at <= now)
    pending = and_(CaseRow.state.in_(RUNNING), CaseRow.deadline_at > now)
    soon_cols = [_count(and_(pending, CaseRow.due <= due_by[n])).label(f"soon{n}") for n in soon]
    q_open = _within(
        select(*keys, CaseRow.state, func.count(), _count(overdue), *soon_cols).where(
            CaseRow.state.in_([st.value for st in OPEN_STATES])
        ),
        reach,
        dialect,
    ).group_by(*keys, CaseRow.state)
    open_by_state = {st.value: 0 for st in OPEN_STATES}
    due_within = dict.fromkeys(soon, 0)
    overdue_cases = 0
    for matter, procedure, office, state, n, late_now, *soon_counts in s.execute(q_open):
        g = slot(matter, procedure, office)
        g["open"] += int(n)
        g["overdue"] += int(late_now)
        g["by_state"][state] = g["by_state"].get(state, 0) + int(n)
        open_by_state[state] = open_by_state.get(state, 0) + int(n)
        overdue_cases += int(late_now)
        for days, count in zip(soon, soon_counts, strict=True):
            due_within[days] += int(count)

    # 3. closed in the period: why, and for those the office decided, on time or late
    closed_in_period = CaseRow.closed_at >= start  # only closed cases have a closing time
    on_time = and_(
        CaseRow.close_reason.in_(CONCLUDED),
        CaseRow.deadline_at.is_not(None),
        CaseRow.closed_at <= CaseRow.deadline_at,
        CaseRow.overdue_at.is_(None),
    )
    late = and_(CaseRow.close_reason.in_(CONCLUDED), ~on_time)
    q_closed = _within(
        select(*keys, CaseRow.close_reason, func.count(), _count(on_time), _count(late)).where(
            closed_in_period
        ),
        reach,
        dialect,
    ).group_by(*keys, CaseRow.close_reason)
    closed_by_reason = {r.value: 0 for r in CloseReason}
    for matter, procedure, office, reason, n, n_on_time, n_late in s.execute(q_closed):
        g = slot(matter, procedure, office)
        g["on_time"] += int(n_on_time)
        g["late"] += int(n_late)
        closed_by_reason[str(reason)] = closed_by_reason.get(str(reason), 0) + int(n)

    # 4. tasks of the node (their own deadlines), when the reach covers the node
    overdue_tasks: int | None = None
    if reach.tasks:
        overdue_tasks = int(
            s.execute(
                select(func.count()).where(TaskRow.state.in_(OPEN_TASK), TaskRow.deadline_at <= now)
            ).scalar_one()
        )

    # Each breakdown sums these cells under its own key (matter, matter/procedure, office).
    groups = [(cell, Group(key="", **values)) for cell, values in rows.items()]
    return Figures(
        period_days=period_days,
        first_day=first_day,
        today=today,
        accepted_per_day=accepted_per_day,
        open_by_state=open_by_state,
        closed_by_reason=closed_by_reason,
        on_time=sum(g.on_time for _, g in groups),
        late=sum(g.late for _, g in groups),
        overdue_cases=overdue_cases,
        overdue_tasks=overdue_tasks,
        due_within=due_within,
        by_matter=_breakdown(groups, lambda k: k[0]),
        by_procedure=_breakdown(groups, lambda k: f"{k[0]}/{k[1]}"),
        by_office=_breakdown(groups, lambda k: k[2]),
        overdue_items=overdue_items(s, reach=reach, now=now, calendar=calendar),
    )


def _sum_groups(key: str, groups: Iterable[Group]) -> Group:
    by_state: dict[str, int] = {}
    accepted = open_ = overdue = on_time = late = 0
    for g in groups:
        accepted += g.accepted
        open_ += g.open
        overdue += g.overdue
        on_time += g.on_time
        late += g.late
        for state, n in g.by_state.items():
            by_state[state] = by_state.get(state, 0) + n
    return Group(key, accepted, open_, overdue, on_time, late, by_state)


def _sorted(groups: list[Group]) -> list[Group]:
    return sorted(groups, key=lambda g: (-g.overdue, -g.open, -g.accepted, g.key))


def _breakdown(groups: list[tuple[tuple[str, str, str], Group]], key: Any) -> list[Group]:
    by: dict[str, list[Group]] = {}
    for k, g in groups:
        by.setdefault(key(k), []).append(g)
    return _sorted([_sum_groups(name, gs) for name, gs in by.items()])


def overdue_items(
    s: Session,
    *,
    reach: Reach,
    now: datetime,
    calendar: WorkingCalendar,
    limit: int = OVERDUE_LIST_LIMIT,
) -> list[OverdueItem]:
    """Overdue cases (and tasks, when within reach), the longest overdue first."""
    dialect = s.get_bind().dialect.name
    today = local_date(now)
    q = _within(
        select(
            literal("case"),
            CaseRow.number,
            CaseRow.accepting_node,
            CaseRow.matter,
            CaseRow.accepting_office,
            CaseRow.due,
            CaseRow.deadline_at,
            CaseRow.time_limit_unit,
        ).where(CaseRow.state.in_(RUNNING), CaseRow.deadline_at <= now),
        reach,
        dialect,
    )
    found = list(s.execute(q.order_by(CaseRow.deadline_at, CaseRow.id).limit(limit)))
    if reach.tasks:
        tq = select(
            literal("task"),
            TaskRow.case_number,
            TaskRow.case_node,
            TaskRow.matter,
            literal(None),
            TaskRow.due,
            TaskRow.deadline_at,
            TaskRow.time_limit_unit,
        ).where(TaskRow.state.in_(OPEN_TASK), TaskRow.deadline_at <= now)
        found += list(s.execute(tq.order_by(TaskRow.deadline_at, TaskRow.id).limit(limit)))
    items = []
    for kind, number, node, matter, office, due, deadline_at, unit in found:
        day_unit = DayUnit(unit)
        late_days = 0
        if due is not None:
            late_days = (
                (today - due).days
                if day_unit is DayUnit.CALENDAR_DAYS
                else calendar.working_days_between(due, today)
            )
        items.append(
            OverdueItem(
                str(kind), number, node, matter, office, due, deadline_at, max(late_days, 0), day_unit
            )
        )
    items.sort(key=lambda i: (i.deadline_at or now, i.kind, i.number))
    return items[:limit]
