"""The ``tongban`` command: one entry point; each capability adds its commands through ``cli.register``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.node import read_manifest
from tongban.core.plugins import capability_modules
from tongban.core.settings import Settings

app = typer.Typer(
    name="tongban",
    help="tongban (通办): cross-province household-registration services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Node databases: migrations and schema checks.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err_console = Console(stderr=True)

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded data dir (default: TONGBAN_DATA_DIR or var/).")
]
DbUrlOpt = Annotated[str | None, typer.Option("--db", help="A node database URL (SQLite or PostgreSQL).")]


def settings_for(data_dir: Path | None = None, db_url: str | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if db_url is not None:
        overrides["db_url"] = db_url
    return Settings(**overrides)  # type: ignore[arg-type]


def target_databases(data_dir: Path | None, db_url: str | None) -> list[tuple[str, Database]]:
    """The databases a maintenance command works on: one URL, or every node of the data dir."""
    settings = settings_for(data_dir, db_url)
    if db_url:
        return [(db_url, Database(db_url, settings))]
    entries = read_manifest(settings.data_dir)
    return [(e.code, Database(e.db_url or settings.node_db_url(e.code), settings)) for e in entries]


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOpt = None, db: DbUrlOpt = None) -> None:
    """Migrate node databases to the newest schema."""
    targets = target_databases(data_dir, db)
    if not targets:
        err_console.print("No node database found: pass --db URL or a --data-dir with a nation.json.")
        raise typer.Exit(1)
    for name, database in targets:
        migrate.upgrade(database)
        console.print(f"{name}: at {', '.join(sorted(migrate.current_heads(database)))}")
        database.dispose()


@db_app.command("check")
def db_check(data_dir: DataDirOpt = None, db: DbUrlOpt = None) -> None:
    """Check that each database's schema matches the code's tables (exit 1 if not)."""
    bad = 0
    for name, database in target_databases(data_dir, db):
        diffs = migrate.pending_differences(database)
        if diffs:
            bad += 1
            err_console.print(f"{name}: {len(diffs)} difference(s): {diffs}")
        else:
            console.print(f"{name}: schema matches")
        database.dispose()
    raise typer.Exit(1 if bad else 0)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", "--message")],
    branch: Annotated[str, typer.Option(help="Capability whose migration branch gets the revision.")],
    new_branch: Annotated[bool, typer.Option(help="Start the capability's branch.")] = False,
    db: DbUrlOpt = None,
) -> None:
    """Autogenerate a migration on a capability's branch (developers)."""
    url = db or "sqlite:///var/dev-revision.sqlite3"
    database = Database(url)
    migrate.upgrade(database)
    migrate.revision(database, message=message, branch=branch, new_branch=new_branch)
    database.dispose()


@app.command("serve")
def serve(
    data_dir: DataDirOpt = None,
    node: Annotated[
        str | None, typer.Option(help="Serve one node only (production: one process per node).")
    ] = None,
    db: DbUrlOpt = None,
    nats: Annotated[str | None, typer.Option(help="NATS URL for the JetStream exchange.")] = None,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Serve the web pages and API of the nodes of a data dir (embedded), or of one node."""
    import uvicorn

    from tongban.web.runtime import build_runtime, single_node

    settings = settings_for(data_dir, db)
    if nats:
        settings = settings.model_copy(update={"nats_url": nats})
    only = [single_node(settings, node, db)] if node else None
    runtime = build_runtime(settings, only=only)
    from tongban.web.app import create_app

    web = create_app(runtime)
    console.print(
        f"tongban: serving {len(runtime.nodes)} node(s) on http://{host or settings.host}:{port or settings.port}"
    )
    uvicorn.run(web, host=host or settings.host, port=port or settings.port, log_level="warning")


for _module in capability_modules("cli"):
    _module.register(app)

from tongban.bench.cli import bench_app  # noqa: E402
from tongban.core import check_cli  # noqa: E402

check_cli.register(app)

app.add_typer(bench_app, name="bench")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
