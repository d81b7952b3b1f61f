"""``tongban registry import FILE --node CODE`` and ``tongban registry export FILE --node CODE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.bench.harness import progress
from tongban.core import migrate
from tongban.core.db import Database
from tongban.core.errors import Conflict
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.divisions.cli import LangOpt, cli_locale
from tongban.registry.exporting import export_to_file
from tongban.registry.hooks import RegistrationListener, listener_of
from tongban.registry.importing import ImportRefused, RowError, import_records, read_jsonl, write_rejects

registry_app = typer.Typer(help="The registry: import and export a node's records.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

NodeOpt = Annotated[str, typer.Option("--node", help="The node's provincial code, e.g. 110000.")]
DbOpt = Annotated[str | None, typer.Option("--db", help="The node's database URL (SQLite or PostgreSQL).")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded data dir holding the node's SQLite file.")
]


def node_database(node: str, db: str | None, data_dir: Path | None) -> Database:
    """The node's database, refused unless it is migrated to the newest schema."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)  # type: ignore[arg-type]
    database = Database(db or settings.node_db_url(node), settings)
    if migrate.current_heads(database) != migrate.script_heads():
        database.dispose()
        t = Translator(cli_locale())
        err_console.print(
            t(N_("The node's database is not at the newest schema: run `tongban db upgrade` first."))
        )
        raise typer.Exit(2)
    return database


def registration_listener(
    node: str, database: Database, data_dir: Path | None
) -> RegistrationListener | None:
    """Where the data dir holds an exchange directory, the node has an exchange: the import then reports its
    people to the national locator (queued in its outbox, sent when the node's exchange runs)."""
    from tongban.exchange.directory import DIRECTORY_FILE

    settings = Settings(**({"data_dir": data_dir} if data_dir is not None else {}))  # type: ignore[arg-type]
    if not (settings.data_dir / DIRECTORY_FILE).exists():
        return None
    from tongban.exchange.runtime import node_exchange

    context = NodeContext(code=node, name=node, db=database, settings=settings)
    node_exchange(context, settings.data_dir)
    return listener_of(context)


@registry_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file to import.")],
    node: NodeOpt,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good records; write the bad ones to a file.")
    ] = False,
    reject_file: Annotated[
        Path | None,
        typer.Option(help="Where --skip-invalid writes bad lines (default: FILE.rejected.jsonl)."),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who imports, for the audit log.")] = "system:import",
    chunk: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Check and load a large file in parts of whole households of about this many persons, in "
            "one transaction, so that memory stays bounded (each household followed by its members' records; "
            "see docs/registry-format.md).",
        ),
    ] = None,
    lang: LangOpt = None,
) -> None:
    """Check a whole file of registry records, then import it in one transaction (see docs/registry-format.md).

    Any bad record and nothing is imported: each bad line is printed with its reason.
    """
    t = Translator(cli_locale(lang))
    database = node_database(node, db, data_dir)
    try:
        with progress(t(N_("Rows written")), None) as advance:
            report = import_records(
                database,
                read_jsonl(file),
                numbered=True,
                node_code=node,
                actor=actor,
                skip_invalid=skip_invalid,
                progress=advance,
                source=file.name,
                listener=registration_listener(node, database, data_dir),
                chunk=chunk,
            )
    except ImportRefused as refused:
        _print_errors(t, refused.errors)
        err_console.print(t(N_("Nothing was imported: {n} bad record(s)."), n=len(refused.errors)))
        raise typer.Exit(1) from None
    except Conflict as conflict:
        err_console.print(t(conflict.message, **conflict.params))
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    if report.errors:
        _print_errors(t, report.errors)
        target = reject_file or file.with_name(file.name + ".rejected.jsonl")
        written = write_rejects(target, file, report.rejected_lines)
        err_console.print(t(N_("{n} line(s) not imported, written to {path}."), n=written, path=str(target)))
    console.print(
        t(
            N_(
                "Imported {households} household(s), {persons} person(s), {memberships} membership(s), {journal} journal entries."
            ),
            households=report.households,
            persons=report.persons,
            memberships=report.memberships,
            journal=report.journal,
        )
    )


def _print_errors(t: Translator, errors: list[RowError]) -> None:
    table = Table(t(N_("Line")), t(N_("Reason")), title=t(N_("Bad records")))
    for e in errors:
        table.add_row(str(e.line), e.text(t.locale))
    err_console.print(table)


@registry_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="JSON Lines file to write.")],
    node: NodeOpt,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    lang: LangOpt = None,
) -> None:
    """Write every record of the node's registry to FILE, in the import format."""
    t = Translator(cli_locale(lang))
    database = node_database(node, db, data_dir)
    try:
        n = export_to_file(database, file)
    finally:
        database.dispose()
    console.print(t(N_("Exported {n} record(s) to {path}."), n=n, path=str(file)))


def register(app: typer.Typer) -> None:
    app.add_typer(registry_app, name="registry")
