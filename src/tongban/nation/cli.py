"""``tongban nation init``: create a synthetic nation (one node per province) in a data dir."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

nation_app = typer.Typer(help="The synthetic nation: generated people in every node, for demos and tests.")
console = Console()
err_console = Console(stderr=True)


@nation_app.command("init")
def init(
    provinces: Annotated[
        int | None, typer.Option("--provinces", help="How many provinces (a fixed default choice).")
    ] = None,
    codes: Annotated[
        str | None, typer.Option("--codes", help="Provincial codes, comma-separated (110000,440000,...).")
    ] = None,
    people: Annotated[int, typer.Option("--people", help="People per province.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same nation.")] = 2026,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the node databases and nation.json go.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a nation already in the data dir.")] = False,
    demo_accounts: Annotated[
        bool,
        typer.Option(
            help="Create a demo clerk and supervisor per node, with synthetic cases (credentials in"
            " demo-accounts.json)."
        ),
    ] = True,
) -> None:
    """Generate a synthetic nation and load it into one node database per province."""
    from tongban.cli import settings_for
    from tongban.nation.build import NationExists, build_nation, choose_provinces

    settings = settings_for(data_dir)
    try:
        chosen = choose_provinces(provinces, codes.split(",") if codes else None)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {
            (stage, code): bar.add_task(f"{verb} {code}", total=people, visible=stage == "generate")
            for code in chosen
            for stage, verb in (("generate", "generate"), ("import", "import  "))
        }

        def advance(stage: str, code: str, n: int) -> None:
            task = tasks.get((stage, code))
            if task is not None:
                bar.update(task, advance=n, visible=True)

        try:
            summaries = build_nation(
                settings, chosen, people=people, seed=seed, force=force, progress=advance
            )
        except NationExists as exc:
            err_console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        for (stage, _code), task in tasks.items():
            if stage == "import":
                bar.update(task, completed=bar.tasks[task].total)
    table = Table(title=f"Nation in {settings.data_dir} (seed {seed})")
    for column in ("node", "province", "persons", "households", "living here from elsewhere", "seconds"):
        table.add_column(column)
    for s in summaries:
        table.add_row(
            s.code,
            s.name,
            str(s.persons),
            str(s.households),
            str(s.residents_from_elsewhere),
            " ".join(f"{k} {v:.1f}" for k, v in s.seconds.items()),
        )
    console.print(table)
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    if demo_accounts:
        console.print(
            "Demo clerks and supervisors (synthetic data only): `tongban nation demo-login"
            + (f" --data-dir {settings.data_dir}" if data_dir is not None else "")
            + "` shows their sign-in names, passwords and current one-time codes."
        )


@nation_app.command("demo-login")
def demo_login(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="The nation's data dir.")] = None,
) -> None:
    """Print the demo accounts' sign-in names, passwords and current one-time codes."""
    from tongban.cli import settings_for
    from tongban.nation.demo import current_code, read_demo_file

    settings = settings_for(data_dir)
    accounts = read_demo_file(settings.data_dir, role=None)
    if not accounts:
        err_console.print(f"No demo accounts in {settings.data_dir} (created by `tongban nation init`).")
        raise typer.Exit(1)
    table = Table(
        title="Demo accounts (clerks search the people of one county; supervisors see /supervision)"
    )
    for column in ("node", "county", "role", "sign-in name", "password", "one-time code now"):
        table.add_column(column)
    for a in accounts:
        table.add_row(a.node, a.division_code, a.role, a.login, a.password, current_code(a))
    console.print(table)
    console.print("At the first sign-in, enter the code shown here on the second-factor page.")


def register(app: typer.Typer) -> None:
    app.add_typer(nation_app, name="nation")
