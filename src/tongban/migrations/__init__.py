"""Alembic migrations: one branch per capability under ``versions/<capability>/``; upgrade to ``heads``."""
