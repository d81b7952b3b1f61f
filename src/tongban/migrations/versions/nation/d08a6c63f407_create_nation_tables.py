"""create nation tables: residents whose hukou is in another province

Revision ID: d08a6c63f407
Revises:
Create Date: 2026-11-27 14:43:53.168641
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d08a6c63f407"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("nation",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nation_residents",
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sex", sa.String(length=6), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("hukou_province", sa.String(length=6), nullable=False),
        sa.Column("division_code", sa.String(length=6), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("has_permit", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id_number", name=op.f("pk_nation_residents")),
    )
    with op.batch_alter_table("nation_residents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_nation_residents_division_code"), ["division_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_nation_residents_hukou_province"), ["hukou_province"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("nation_residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nation_residents_hukou_province"))
        batch_op.drop_index(batch_op.f("ix_nation_residents_division_code"))

    op.drop_table("nation_residents")
