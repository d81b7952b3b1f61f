"""Alembic environment: runs on the connection handed over by ``tongban.core.migrate``."""

from __future__ import annotations

from alembic import context

from tongban.core.db import Base
from tongban.core.plugins import load_all_tables

load_all_tables()
target_metadata = Base.metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tongban db upgrade`, which provides the connection")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
