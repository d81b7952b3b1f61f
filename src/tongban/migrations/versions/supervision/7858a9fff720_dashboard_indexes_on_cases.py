"""dashboard indexes on cases

Revision ID: 7858a9fff720
Revises:
Create Date: 2026-11-27 18:02:35.112545

The supervision capability has no tables: its branch adds the indexes its dashboard reads cases and tasks
through (declared in ``tongban.supervision.tables``). It depends on the cases revision creating those tables.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7858a9fff720"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("supervision",)
depends_on: str | Sequence[str] | None = "2875b4f71d56"  # cases: create cases tables


def upgrade() -> None:
    op.create_index("ix_supervision_case_accepted", "cases_case", ["accepted_at"], unique=False)
    op.create_index("ix_supervision_case_closed", "cases_case", ["closed_at"], unique=False)
    op.create_index("ix_supervision_case_open", "cases_case", ["state", "deadline_at"], unique=False)
    op.create_index("ix_supervision_task_open", "cases_task", ["state", "deadline_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_supervision_task_open", table_name="cases_task")
    op.drop_index("ix_supervision_case_open", table_name="cases_case")
    op.drop_index("ix_supervision_case_closed", table_name="cases_case")
    op.drop_index("ix_supervision_case_accepted", table_name="cases_case")
