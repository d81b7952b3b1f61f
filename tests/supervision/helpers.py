"""Known cases for the supervision tests: rows written as the cases capability stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from tongban.cases.calendar import end_of_day
from tongban.cases.tables import CaseRow, CaseWindowRow, TaskRow

# Friday 27 November 2026, 10:00 China time.
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 27)


def at(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock China time on ``day``."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def put_case(
    s: Session,
    number: str,
    *,
    accepted: date,
    matter: str = "MIG-SPOUSE",
    procedure: str = "standard",
    office: str = "110105-01",
    division: str = "110105",
    state: str = "in_progress",
    due: date | None = None,
    closed: datetime | None = None,
    reason: str | None = None,
    overdue: datetime | None = None,
    unit: str = "working_days",
    accepted_hour: int = 10,
) -> None:
    due = due if due is not None or state == "awaiting_materials" else accepted + timedelta(days=28)
    row = CaseRow(
        number=number,
        matter=matter,
        procedure=procedure,
        applicant="cid:test",
        accepting_node="110000",
        accepting_office=office,
        accepted_at=at(accepted, accepted_hour),
        time_limit_value=20,
        time_limit_unit=unit,
        materials_wait_value=30,
        materials_wait_unit="calendar_days",
        state=state,
        close_reason=reason,
        pauses=[],
        paused_since=None,
        missing_materials=[],
        due=due,
        deadline_at=end_of_day(due) if due is not None else None,
        materials_due=None,
        materials_deadline_at=None,
        years_without_data="",
        overdue_at=overdue,
        closed_at=closed,
        decision=None,
        version=1,
    )
    s.add(row)
    s.flush()
    s.add(
        CaseWindowRow(
            case_id=row.id, division_code=division, applicant_masked="110105********002X", locale="zh_CN"
        )
    )


def put_task(s: Session, ref: str, *, due: date, state: str = "open", node: str = "310000") -> None:
    s.add(
        TaskRow(
            ref=ref,
            case_node=node,
            case_number=f"{node}-20261101-{ref[-6:]}",
            owner_node="110000",
            matter="MIG-SPOUSE",
            step="approve",
            received_at=at(due - timedelta(days=20)),
            time_limit_value=10,
            time_limit_unit="working_days",
            state=state,
            outcome=None,
            due=due,
            deadline_at=end_of_day(due),
            years_without_data="",
            overdue_at=None,
            closed_at=None,
            version=1,
        )
    )


def known_cases(s: Session) -> None:
    """The fixture every count in the tests refers to (China dates; today is 27 November 2026, a Friday).

    County 110105, office 110105-01:
      A1 accepted 27 Nov, in progress, due 10 Dec                    (open, in period)
      A2 accepted 27 Nov 07:30 (26 Nov 23:30 UTC), accepted, due 26 Nov: overdue by 1 working day
      A3 accepted 20 Nov, awaiting materials                         (open, not running)
      A4 accepted 1 Nov, in progress, due 30 Nov (Monday): due within 1 working day
      A5 accepted 1 Nov, closed completed 25 Nov, due 26 Nov         (on time)
      A6 accepted 1 Oct, closed refused 20 Nov, due 10 Nov, marked overdue 11 Nov (late)
      A7 accepted 25 Nov, closed withdrawn 26 Nov                    (not counted in the rate)
    County 110105, office 110105-02 (matter CERT):
      B1 accepted 24 Nov (online: fully online), in progress, due 2 Dec (Wednesday): within 3 working days
      B2 accepted 1 Aug (window: accepted here, decided there), in progress, due 1 Sep: overdue
    County 110108, office 110108-01:
      C1 accepted 26 Nov, accepted, due 20 Nov: overdue
      C2 accepted 10 Nov, closed completed 12 Nov, due 20 Nov         (on time)
    Tasks of the node: T1 open due 20 Nov (overdue), T2 in progress due 5 Dec, T3 closed due 1 Nov.
    """
    d = date
    put_case(s, "110000-20261127-000001", accepted=d(2026, 11, 27), due=d(2026, 12, 10))
    put_case(
        s,
        "110000-20261127-000002",
        accepted=d(2026, 11, 27),
        accepted_hour=7,
        state="accepted",
        due=d(2026, 11, 26),
    )
    put_case(s, "110000-20261120-000001", accepted=d(2026, 11, 20), state="awaiting_materials")
    put_case(s, "110000-20261101-000001", accepted=d(2026, 11, 1), due=d(2026, 11, 30))
    put_case(
        s,
        "110000-20261101-000002",
        accepted=d(2026, 11, 1),
        state="closed",
        reason="completed",
        due=d(2026, 11, 26),
        closed=at(d(2026, 11, 25)),
    )
    put_case(
        s,
        "110000-20261001-000001",
        accepted=d(2026, 10, 1),
        state="closed",
        reason="refused",
        due=d(2026, 11, 10),
        closed=at(d(2026, 11, 20)),
        overdue=at(d(2026, 11, 11), 0),
    )
    put_case(
        s,
        "110000-20261125-000001",
        accepted=d(2026, 11, 25),
        state="closed",
        reason="withdrawn",
        due=d(2026, 12, 20),
        closed=at(d(2026, 11, 26)),
    )
    put_case(
        s,
        "110000-20261124-000001",
        accepted=d(2026, 11, 24),
        matter="CERT",
        procedure="online",
        office="110105-02",
        due=d(2026, 12, 2),
    )
    put_case(
        s,
        "110000-20260801-000001",
        accepted=d(2026, 8, 1),
        matter="CERT",
        procedure="window",
        office="110105-02",
        due=d(2026, 9, 1),
    )
    put_case(
        s,
        "110000-20261126-000001",
        accepted=d(2026, 11, 26),
        office="110108-01",
        division="110108",
        state="accepted",
        due=d(2026, 11, 20),
    )
    put_case(
        s,
        "110000-20261110-000001",
        accepted=d(2026, 11, 10),
        office="110108-01",
        division="110108",
        state="closed",
        reason="completed",
        due=d(2026, 11, 20),
        closed=at(d(2026, 11, 12)),
    )
    put_task(s, "task-000001", due=d(2026, 11, 20))
    put_task(s, "task-000002", due=d(2026, 12, 5), state="in_progress")
    put_task(s, "task-000003", due=d(2026, 11, 1), state="closed")
