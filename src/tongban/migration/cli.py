"""``tongban migration ...``: read a node's migrations (the destination's cases, the origin's task queue, the
certificates nearing their end). The saga's steps themselves go through the API (they sign and send)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tongban.cases.cli import DataDirOpt, DbOpt, NodeOpt, open_node_for
from tongban.migration import origin
from tongban.migration import service as mig

migration_app = typer.Typer(help="Cross-province migrations of one node.", no_args_is_help=True)

LangOpt = Annotated[str, typer.Option("--lang", help="zh_CN or en.")]


@migration_app.command("list")
def list_cases(node: NodeOpt, db: DbOpt = None, data_dir: DataDirOpt = None, lang: LangOpt = "zh_CN") -> None:
    """The migrations this node owns as destination, one JSON object per line."""
    ctx = open_node_for(node, db, data_dir)
    for v in mig.list_migrations(ctx, locale=lang):
        typer.echo(
            json.dumps(
                {
                    "number": v.number,
                    "matter": v.matter,
                    "origin": v.origin,
                    "state": v.state,
                    "reason": v.reason_text,
                    "certificate": v.certificate_number,
                },
                ensure_ascii=False,
            )
        )


@migration_app.command("tasks")
def tasks(
    node: NodeOpt,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed tasks too.")] = False,
) -> None:
    """The origin's move-out tasks (waiting for a decision; every one with ``--all``), oldest first, with their due dates."""
    ctx = open_node_for(node, db, data_dir)
    for t in origin.list_tasks(ctx, include_closed=all_):
        typer.echo(json.dumps(t.__dict__, ensure_ascii=False))


@migration_app.command("expiring")
def expiring(
    node: NodeOpt,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    within_days: Annotated[int | None, typer.Option("--within-days", min=0, max=30)] = None,
) -> None:
    """Cases whose migration certificate ends soon and whose move-in is not registered yet."""
    ctx = open_node_for(node, db, data_dir)
    for number in mig.certificates_nearing_expiry(ctx, within_days=within_days):
        typer.echo(number)


def register(app: typer.Typer) -> None:
    app.add_typer(migration_app, name="migration")
