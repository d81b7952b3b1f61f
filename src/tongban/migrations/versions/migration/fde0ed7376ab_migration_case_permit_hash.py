"""migration_case.permit_hash

Revision ID: fde0ed7376ab
Revises: 5dc8582256ff
Create Date: 2026-11-27 21:10:56.546943
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fde0ed7376ab"
down_revision: str | Sequence[str] | None = "5dc8582256ff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("migration_case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permit_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("migration_case", schema=None) as batch_op:
        batch_op.drop_column("permit_hash")
