"""guard audit rows: no deletion, no change except the sealer filling the chain columns once

Revision ID: c3d1e0a2b7f4
Revises: 8a1f84a751de
Create Date: 2026-11-27 15:00:00

Defence in depth: the hash chain detects tampering; these triggers refuse it in the first place from
anyone who cannot change the schema. (Whoever can drop a trigger can also rewrite rows: that is what
``tongban audit verify`` and the heads kept by peers are for.)
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c3d1e0a2b7f4"
down_revision: str | Sequence[str] | None = "8a1f84a751de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTENT = [
    "seq",
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "change_digest",
    "change_salt",
    "change_summary",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        old = ", ".join(f"OLD.{c}" for c in CONTENT)
        new = ", ".join(f"NEW.{c}" for c in CONTENT)
        op.execute(
            f"""
            CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'audit_log is append-only';
              END IF;
              IF OLD.chain_pos IS NOT NULL OR ROW({new}) IS DISTINCT FROM ROW({old}) THEN
                RAISE EXCEPTION 'audit_log rows are sealed once and never changed';
              END IF;
              RETURN NEW;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_guard BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_guard()"
        )
        op.execute(
            """
            CREATE FUNCTION audit_seals_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'audit_seals is append-only';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_seals_guard BEFORE UPDATE OR DELETE ON audit_seals "
            "FOR EACH ROW EXECUTE FUNCTION audit_seals_guard()"
        )
        return
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in CONTENT)
    op.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_log_seal_once BEFORE UPDATE ON audit_log "
        f"WHEN OLD.chain_pos IS NOT NULL OR {changed} "
        "BEGIN SELECT RAISE(ABORT, 'audit_log rows are sealed once and never changed'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_seals_no_change BEFORE UPDATE ON audit_seals "
        "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_seals_no_delete BEFORE DELETE ON audit_seals "
        "BEGIN SELECT RAISE(ABORT, 'audit_seals is append-only'); END"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_seals_guard ON audit_seals")
        op.execute("DROP FUNCTION IF EXISTS audit_seals_guard()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_guard ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_guard()")
        return
    for name in (
        "audit_seals_no_delete",
        "audit_seals_no_change",
        "audit_log_seal_once",
        "audit_log_no_delete",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
