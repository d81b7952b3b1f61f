"""Indexes the supervision dashboard needs on the cases capability's tables (it has no tables of its own).

Each of the dashboard's queries reads one slice of ``cases_case``: cases accepted in the period
(``accepted_at``), cases closed in the period (``closed_at``), open cases by state with their deadlines
(``state, deadline_at``); and open tasks by state with theirs. Declared here, beside the queries that use them,
and created by the ``supervision`` migration branch, so the cases capability's tables and branch stay as they
are.
"""

from __future__ import annotations

from sqlalchemy import Index

from tongban.cases.tables import CaseRow, TaskRow

CASE = CaseRow.__table__
TASK = TaskRow.__table__

INDEXES = (
    Index("ix_supervision_case_accepted", CASE.c.accepted_at),
    Index("ix_supervision_case_closed", CASE.c.closed_at),
    Index("ix_supervision_case_open", CASE.c.state, CASE.c.deadline_at),
    Index("ix_supervision_task_open", TASK.c.state, TASK.c.deadline_at),
)
