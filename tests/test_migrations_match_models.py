"""The tables the code declares and the migrations agree, on both backends."""

from __future__ import annotations

from tongban.core import migrate
from tongban.core.db import Database


def test_migrated_schema_matches_the_models(database: Database) -> None:
    assert migrate.pending_differences(database) == []


def test_database_is_at_every_branch_head(database: Database) -> None:
    assert migrate.current_heads(database) == migrate.script_heads()
