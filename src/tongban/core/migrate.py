"""Schema migrations of a node database (Alembic, one branch per capability)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import tongban.migrations
from tongban.core.db import Base, Database
from tongban.core.plugins import load_all_tables

MIGRATIONS_DIR = Path(tongban.migrations.__file__).parent


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    cfg.set_main_option("recursive_version_locations", "true")
    cfg.set_main_option("path_separator", "os")
    return cfg


def upgrade(db: Database, target: str = "heads") -> None:
    """Bring the node database to ``target`` (every capability's newest revision by default)."""
    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def current_heads(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def script_heads() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def pending_differences(db: Database) -> list[object]:
    """Differences between the tables the code declares and the migrated database (empty = they agree)."""
    load_all_tables()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def revision(db: Database, *, message: str, branch: str, new_branch: bool = False) -> None:
    """Autogenerate a revision on capability ``branch`` against an up-to-date database."""
    cfg = alembic_config()
    if new_branch:
        branch_dir = MIGRATIONS_DIR / "versions" / branch
        branch_dir.mkdir(parents=True, exist_ok=True)
        # Alembic writes a new branch only into a folder it knows as a version location.
        locations = [
            MIGRATIONS_DIR / "versions",
            *sorted(p for p in (MIGRATIONS_DIR / "versions").iterdir() if p.is_dir()),
        ]
        cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in dict.fromkeys(locations)))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        if new_branch:
            command.revision(
                cfg,
                message=message,
                autogenerate=True,
                head="base",
                branch_label=branch,
                version_path=str(MIGRATIONS_DIR / "versions" / branch),
            )
        else:
            command.revision(cfg, message=message, autogenerate=True, head=f"{branch}@head")
