"""Cases and tasks: states, transitions, time limits and their clocks (domain: plain Python).

The accepting node owns the case: its number, matter, applicant, accepting office, state, deadline and an
append-only history of events (who, what, when, why). Another node's part of the work is a task that node
owns, with its own deadline, linked to the case by reference (accepting node code + case number).

States and transitions are tables below. ``apply`` refuses an illegal transition with ``Conflict`` and changes
nothing; a legal one changes the state and appends one event. There is exactly one terminal state,
``closed``, and the reason of the closing is kept (completed, refused, withdrawn, materials not supplied).

Clocks: the official period starts the day after acceptance and counts working or calendar days
(``calendar.WorkingCalendar``). While the case waits for the applicant's missing materials, the official clock
is paused and the wait has its own deadline (a local policy setting); when it passes, the case is closed with
the reason ``materials_not_supplied``. An open case always has a live deadline: the official one while the
clock runs, the materials one while it is paused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from tongban.cases.calendar import DayUnit, DueDate, Pause, TimeLimit, WorkingCalendar, end_of_day, local_date
from tongban.core.clock import ensure_utc
from tongban.core.errors import Conflict, InvalidInput
from tongban.core.i18n import N_


class CaseState(StrEnum):
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    AWAITING_MATERIALS = "awaiting_materials"
    CLOSED = "closed"


class CaseAction(StrEnum):
    ACCEPT = "accept"
    START = "start"
    REQUEST_MATERIALS = "request_materials"
    RECEIVE_MATERIALS = "receive_materials"
    RECORD_DECISION = "record_decision"
    COMPLETE = "complete"
    REFUSE = "refuse"
    WITHDRAW = "withdraw"
    EXPIRE_MATERIALS_WAIT = "expire_materials_wait"
    MARK_OVERDUE = "mark_overdue"


class CloseReason(StrEnum):
    COMPLETED = "completed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    MATERIALS_NOT_SUPPLIED = "materials_not_supplied"


_A = CaseState.ACCEPTED
_P = CaseState.IN_PROGRESS
_W = CaseState.AWAITING_MATERIALS
_C = CaseState.CLOSED

# (state, action) -> next state. Actions that keep the state (a recorded decision, overdue marking) are listed
# with the same state; anything absent is illegal.
CASE_TRANSITIONS: Mapping[tuple[CaseState, CaseAction], CaseState] = {
    (_A, CaseAction.START): _P,
    (_A, CaseAction.REQUEST_MATERIALS): _W,
    (_P, CaseAction.REQUEST_MATERIALS): _W,
    (_W, CaseAction.RECEIVE_MATERIALS): _P,
    (_A, CaseAction.RECORD_DECISION): _A,
    (_P, CaseAction.RECORD_DECISION): _P,
    (_P, CaseAction.COMPLETE): _C,
    (_A, CaseAction.REFUSE): _C,
    (_P, CaseAction.REFUSE): _C,
    (_A, CaseAction.WITHDRAW): _C,
    (_P, CaseAction.WITHDRAW): _C,
    (_W, CaseAction.WITHDRAW): _C,
    (_W, CaseAction.EXPIRE_MATERIALS_WAIT): _C,
    (_A, CaseAction.MARK_OVERDUE): _A,
    (_P, CaseAction.MARK_OVERDUE): _P,
}

CLOSE_REASONS: Mapping[CaseAction, CloseReason] = {
    CaseAction.COMPLETE: CloseReason.COMPLETED,
    CaseAction.REFUSE: CloseReason.REFUSED,
    CaseAction.WITHDRAW: CloseReason.WITHDRAWN,
    CaseAction.EXPIRE_MATERIALS_WAIT: CloseReason.MATERIALS_NOT_SUPPLIED,
}


class TaskState(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class TaskAction(StrEnum):
    RECEIVE = "receive"
    START = "start"
    COMPLETE = "complete"
    REJECT = "reject"
    CANCEL = "cancel"
    MARK_OVERDUE = "mark_overdue"


class TaskOutcome(StrEnum):
    DONE = "done"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


TASK_TRANSITIONS: Mapping[tuple[TaskState, TaskAction], TaskState] = {
    (TaskState.OPEN, TaskAction.START): TaskState.IN_PROGRESS,
    (TaskState.OPEN, TaskAction.COMPLETE): TaskState.CLOSED,
    (TaskState.IN_PROGRESS, TaskAction.COMPLETE): TaskState.CLOSED,
    (TaskState.OPEN, TaskAction.REJECT): TaskState.CLOSED,
    (TaskState.IN_PROGRESS, TaskAction.REJECT): TaskState.CLOSED,
    (TaskState.OPEN, TaskAction.CANCEL): TaskState.CLOSED,
    (TaskState.IN_PROGRESS, TaskAction.CANCEL): TaskState.CLOSED,
    (TaskState.OPEN, TaskAction.MARK_OVERDUE): TaskState.OPEN,
    (TaskState.IN_PROGRESS, TaskAction.MARK_OVERDUE): TaskState.IN_PROGRESS,
}

TASK_OUTCOMES: Mapping[TaskAction, TaskOutcome] = {
    TaskAction.COMPLETE: TaskOutcome.DONE,
    TaskAction.REJECT: TaskOutcome.REJECTED,
    TaskAction.CANCEL: TaskOutcome.CANCELLED,
}


def terminal_states(table: Mapping[tuple[Any, Any], Any], states: Sequence[Any]) -> set[Any]:
    """States with no way out (for the "exactly one terminal state" check)."""
    leaving = {src for (src, _), dst in table.items() if dst != src}
    return {s for s in states if s not in leaving}


@dataclass(frozen=True)
class TimeLeft:
    """What a queue shows: days to the live due date, in the limit's unit; ``materials`` while paused."""

    days: int
    unit: DayUnit
    materials: bool = False

    @property
    def late(self) -> bool:
        return self.days < 0


@dataclass(frozen=True)
class Event:
    """One entry of a case's or task's history: who did what, when, and why."""

    seq: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


def make_case_number(node: str, accepted_on: date, seq: int) -> str:
    """``<node>-<YYYYMMDD>-<seq>``: unique per node (the store hands out ``seq`` per node and day)."""
    if not (len(node) == 6 and node.isdigit()) or not 0 < seq < 1_000_000:
        raise ValueError("bad case number parts")
    return f"{node}-{accepted_on:%Y%m%d}-{seq:06d}"


@dataclass(frozen=True)
class CaseRef:
    """How a task names the case it belongs to: the owning (accepting) node and the case number."""

    node: str
    number: str

    def __str__(self) -> str:
        return f"{self.node}/{self.number}"

    @classmethod
    def parse(cls, text: str) -> CaseRef:
        node, sep, number = text.partition("/")
        if not sep or not node or not number:
            raise InvalidInput(N_("Not a case reference: {ref}"), ref=text)
        return cls(node, number)


@dataclass
class _Timeline:
    """The history and the clock fields cases and tasks share."""

    events: list[Event] = field(default_factory=list)

    def _check_time(self, now: datetime, actor: str) -> None:
        if not actor:
            raise InvalidInput(N_("Every event names who acted"))
        if self.events and ensure_utc(now) < self.events[-1].at:
            raise Conflict(N_("Events are recorded in time order"))

    def _record(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        from_state: str | None,
        to_state: str,
        reason: str | None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        at = ensure_utc(at)
        self._check_time(at, actor)
        event = Event(
            seq=len(self.events) + 1,
            at=at,
            actor=actor,
            action=action,
            from_state=from_state,
            to_state=to_state,
            reason=reason,
            data=dict(data or {}),
        )
        self.events.append(event)
        return event


@dataclass
class Case(_Timeline):
    number: str = ""
    matter: str = ""
    procedure: str = ""
    applicant: str = ""  # an opaque reference to the applicant (person or enterprise id), never shown in logs
    accepting_node: str = ""
    accepting_office: str = ""
    accepted_at: datetime | None = None
    time_limit: TimeLimit = field(default_factory=lambda: TimeLimit.working_days(0))
    materials_wait: TimeLimit = field(default_factory=lambda: TimeLimit.calendar_days(30))
    state: CaseState = CaseState.ACCEPTED
    close_reason: CloseReason | None = None
    pauses: list[Pause] = field(default_factory=list)
    paused_since: date | None = None
    missing_materials: tuple[str, ...] = ()
    due: date | None = None
    deadline_at: datetime | None = None
    materials_due: date | None = None
    materials_deadline_at: datetime | None = None
    years_without_data: tuple[int, ...] = ()
    overdue_at: datetime | None = None
    closed_at: datetime | None = None
    decision: Mapping[str, Any] | None = None

    @classmethod
    def accept(
        cls,
        *,
        number: str,
        matter: str,
        procedure: str,
        applicant: str,
        accepting_node: str,
        accepting_office: str,
        time_limit: TimeLimit,
        materials_wait: TimeLimit,
        calendar: WorkingCalendar,
        now: datetime,
        actor: str,
    ) -> Case:
        """A new case, accepted ``now``: its official clock starts the next day."""
        case = cls(
            number=number,
            matter=matter,
            procedure=procedure,
            applicant=applicant,
            accepting_node=accepting_node,
            accepting_office=accepting_office,
            accepted_at=ensure_utc(now),
            time_limit=time_limit,
            materials_wait=materials_wait,
        )
        case._reschedule(calendar)
        case._record(
            at=now,
            actor=actor,
            action=CaseAction.ACCEPT,
            from_state=None,
            to_state=case.state,
            reason=None,
            data={"due": case.due.isoformat() if case.due else None, "time_limit": str(time_limit)},
        )
        return case

    # -- reading -------------------------------------------------------------------------------

    @property
    def ref(self) -> CaseRef:
        return CaseRef(self.accepting_node, self.number)

    @property
    def is_closed(self) -> bool:
        return self.state is CaseState.CLOSED

    @property
    def accepted_on(self) -> date:
        if self.accepted_at is None:
            raise ValueError("case without acceptance time")
        return local_date(self.accepted_at)

    def live_deadline(self) -> datetime | None:
        """The deadline that matters now: none when closed, the materials wait's while paused."""
        if self.is_closed:
            return None
        if self.state is CaseState.AWAITING_MATERIALS:
            return self.materials_deadline_at
        return self.deadline_at

    def is_overdue(self, now: datetime) -> bool:
        return (
            self.state in (CaseState.ACCEPTED, CaseState.IN_PROGRESS)
            and self.deadline_at is not None
            and ensure_utc(now) >= self.deadline_at
        )

    def working_days_left(self, calendar: WorkingCalendar, now: datetime) -> int | None:
        """Working days from today to the live due date (0 on the due day, negative when late)."""
        day = self.materials_due if self.state is CaseState.AWAITING_MATERIALS else self.due
        if day is None or self.is_closed:
            return None
        return calendar.working_days_between(local_date(now), day)

    def time_left(self, calendar: WorkingCalendar, now: datetime) -> TimeLeft | None:
        """Time to the live due date in the unit of its limit (0 on the due day, negative when late)."""
        paused = self.state is CaseState.AWAITING_MATERIALS
        day = self.materials_due if paused else self.due
        if day is None or self.is_closed:
            return None
        unit = (self.materials_wait if paused else self.time_limit).unit
        today = local_date(now)
        if unit is DayUnit.CALENDAR_DAYS:
            return TimeLeft((day - today).days, unit, paused)
        return TimeLeft(calendar.working_days_between(today, day), unit, paused)

    # -- changing ------------------------------------------------------------------------------

    def _check(self, action: CaseAction, now: datetime, actor: str) -> CaseState:
        """The next state for ``action``, or ``Conflict`` before anything changed."""
        target = CASE_TRANSITIONS.get((self.state, action))
        if target is None:
            raise Conflict(
                N_("Case {number} is {state}: {action} is not allowed"),
                number=self.number,
                state=self.state.value,
                action=action.value,
            )
        self._check_time(now, actor)
        return target

    def allowed_actions(self) -> list[CaseAction]:
        return [a for (s, a) in CASE_TRANSITIONS if s is self.state]

    def _commit(
        self,
        action: CaseAction,
        target: CaseState,
        *,
        now: datetime,
        actor: str,
        reason: str | None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        previous = self.state
        event = self._record(
            at=now, actor=actor, action=action, from_state=previous, to_state=target, reason=reason, data=data
        )
        self.state = target
        if target is CaseState.CLOSED:
            self.close_reason = CLOSE_REASONS[action]
            self.closed_at = ensure_utc(now)
        return event

    def _reschedule(self, calendar: WorkingCalendar) -> None:
        result: DueDate = calendar.due(self.accepted_on, self.time_limit, self.pauses)
        self.due = result.due
        self.deadline_at = result.deadline_at()
        self.years_without_data = result.years_without_data

    def start(self, *, now: datetime, actor: str) -> Event:
        target = self._check(CaseAction.START, now, actor)
        return self._commit(CaseAction.START, target, now=now, actor=actor, reason=None)

    def record_decision(self, *, decision: Mapping[str, Any], now: datetime, actor: str) -> Event:
        """Keep an eligibility decision (``policy.Decision.to_dict()``) with the case and in its history."""
        target = self._check(CaseAction.RECORD_DECISION, now, actor)
        self.decision = dict(decision)
        return self._commit(
            CaseAction.RECORD_DECISION,
            target,
            now=now,
            actor=actor,
            reason=None,
            data={"decision": self.decision},
        )

    def request_materials(
        self, *, missing: Sequence[str], now: datetime, actor: str, calendar: WorkingCalendar
    ) -> Event:
        """Stop the official clock and start the materials wait (one notice listing everything missing)."""
        if not missing:
            raise InvalidInput(N_("A request for materials lists what is missing"))
        target = self._check(CaseAction.REQUEST_MATERIALS, now, actor)
        today = local_date(now)
        wait = calendar.due(today, self.materials_wait)
        self.paused_since = today
        self.missing_materials = tuple(missing)
        self.materials_due = wait.due
        self.materials_deadline_at = wait.deadline_at()
        self.due = None
        self.deadline_at = None
        return self._commit(
            CaseAction.REQUEST_MATERIALS,
            target,
            now=now,
            actor=actor,
            reason=None,
            data={"missing": list(missing), "materials_due": wait.due.isoformat()},
        )

    def receive_materials(self, *, now: datetime, actor: str, calendar: WorkingCalendar) -> Event:
        """The materials arrived: the clock runs again from the next day, the due date moves by the pause."""
        target = self._check(CaseAction.RECEIVE_MATERIALS, now, actor)
        if self.materials_deadline_at is not None and ensure_utc(now) >= self.materials_deadline_at:
            raise Conflict(N_("Case {number}: the wait for materials has ended"), number=self.number)
        assert self.paused_since is not None
        self.pauses.append(Pause(self.paused_since, local_date(now)))
        self.paused_since = None
        self.missing_materials = ()
        self.materials_due = None
        self.materials_deadline_at = None
        self._reschedule(calendar)
        return self._commit(
            CaseAction.RECEIVE_MATERIALS,
            target,
            now=now,
            actor=actor,
            reason=None,
            data={"due": self.due.isoformat() if self.due else None},
        )

    def complete(self, *, now: datetime, actor: str, reason: str | None = None) -> Event:
        target = self._check(CaseAction.COMPLETE, now, actor)
        return self._commit(CaseAction.COMPLETE, target, now=now, actor=actor, reason=reason)

    def refuse(self, *, now: datetime, actor: str, reason: str) -> Event:
        if not reason:
            raise InvalidInput(N_("A refusal gives its reason"))
        target = self._check(CaseAction.REFUSE, now, actor)
        return self._commit(CaseAction.REFUSE, target, now=now, actor=actor, reason=reason)

    def withdraw(self, *, now: datetime, actor: str, reason: str | None = None) -> Event:
        target = self._check(CaseAction.WITHDRAW, now, actor)
        return self._commit(CaseAction.WITHDRAW, target, now=now, actor=actor, reason=reason)

    def expire_materials_wait(self, *, now: datetime, actor: str) -> Event:
        """Close the case because the materials did not come in time (only once the wait has ended)."""
        target = self._check(CaseAction.EXPIRE_MATERIALS_WAIT, now, actor)
        if self.materials_deadline_at is None or ensure_utc(now) < self.materials_deadline_at:
            raise Conflict(N_("Case {number}: the wait for materials has not ended"), number=self.number)
        reason = "missing materials not supplied by " + (
            self.materials_due.isoformat() if self.materials_due else ""
        )
        return self._commit(
            CaseAction.EXPIRE_MATERIALS_WAIT,
            target,
            now=now,
            actor=actor,
            reason=reason,
            data={"missing": list(self.missing_materials)},
        )

    def mark_overdue(self, *, now: datetime, actor: str) -> Event:
        """Record, once, that the official deadline passed with the case still open."""
        target = self._check(CaseAction.MARK_OVERDUE, now, actor)
        if self.overdue_at is not None:
            raise Conflict(N_("Case {number} is already marked overdue"), number=self.number)
        if not self.is_overdue(now):
            raise Conflict(N_("Case {number} is not overdue"), number=self.number)
        self.overdue_at = ensure_utc(now)
        return self._commit(
            CaseAction.MARK_OVERDUE,
            target,
            now=now,
            actor=actor,
            reason=None,
            data={"due": self.due.isoformat() if self.due else None},
        )


@dataclass
class Task(_Timeline):
    """Another node's part of a case: owned by that node, with its own deadline."""

    ref: str = ""  # unique id of the task (a UUID), the same on both nodes
    case: CaseRef = field(default_factory=lambda: CaseRef("", ""))
    owner_node: str = ""
    matter: str = ""
    step: str = ""
    received_at: datetime | None = None
    time_limit: TimeLimit = field(default_factory=lambda: TimeLimit.working_days(1))
    state: TaskState = TaskState.OPEN
    outcome: TaskOutcome | None = None
    due: date | None = None
    deadline_at: datetime | None = None
    years_without_data: tuple[int, ...] = ()
    overdue_at: datetime | None = None
    closed_at: datetime | None = None

    @classmethod
    def receive(
        cls,
        *,
        ref: str,
        case: CaseRef,
        owner_node: str,
        matter: str,
        step: str,
        time_limit: TimeLimit,
        calendar: WorkingCalendar,
        now: datetime,
        actor: str,
    ) -> Task:
        """A task received ``now`` (the day of receipt is not counted)."""
        due = calendar.due(local_date(now), time_limit)
        task = cls(
            ref=ref,
            case=case,
            owner_node=owner_node,
            matter=matter,
            step=step,
            received_at=ensure_utc(now),
            time_limit=time_limit,
            due=due.due,
            deadline_at=due.deadline_at(),
            years_without_data=due.years_without_data,
        )
        task._record(
            at=now,
            actor=actor,
            action=TaskAction.RECEIVE,
            from_state=None,
            to_state=task.state,
            reason=None,
            data={"case": str(case), "due": due.due.isoformat()},
        )
        return task

    @property
    def is_closed(self) -> bool:
        return self.state is TaskState.CLOSED

    def live_deadline(self) -> datetime | None:
        return None if self.is_closed else self.deadline_at

    def is_overdue(self, now: datetime) -> bool:
        return not self.is_closed and self.deadline_at is not None and ensure_utc(now) >= self.deadline_at

    def apply(self, action: TaskAction, *, now: datetime, actor: str, reason: str | None = None) -> Event:
        if action is TaskAction.RECEIVE:
            raise Conflict(N_("Task {ref} was already received"), ref=self.ref)
        target = TASK_TRANSITIONS.get((self.state, action))
        if target is None:
            raise Conflict(
                N_("Task {ref} is {state}: {action} is not allowed"),
                ref=self.ref,
                state=self.state.value,
                action=action.value,
            )
        self._check_time(now, actor)
        if action is TaskAction.REJECT and not reason:
            raise InvalidInput(N_("A refusal gives its reason"))
        if action is TaskAction.MARK_OVERDUE:
            if self.overdue_at is not None:
                raise Conflict(N_("Task {ref} is already marked overdue"), ref=self.ref)
            if not self.is_overdue(now):
                raise Conflict(N_("Task {ref} is not overdue"), ref=self.ref)
            self.overdue_at = ensure_utc(now)
        event = self._record(
            at=now, actor=actor, action=action, from_state=self.state, to_state=target, reason=reason
        )
        self.state = target
        if target is TaskState.CLOSED:
            self.outcome = TASK_OUTCOMES[action]
            self.closed_at = ensure_utc(now)
        return event


def deadline_of_day(day: date) -> datetime:
    """The instant a due day ends (midnight after it, China time), for stores and sweeps."""
    return end_of_day(day)
