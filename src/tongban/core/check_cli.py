"""``tongban check``: drain in-flight messages, then check the nation's invariants (exit 0 clean, 1 findings,
2 the nodes could not be read or drained)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table


def _node_urls(values: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for value in values:
        code, sep, url = value.partition("=")
        if not sep or not (len(code) == 6 and code.isdigit()) or not url:
            raise typer.BadParameter(
                f"expected CODE=URL with a six-digit code, got {value.split('=')[0]!r}=…"
            )
        urls[code] = url
    return urls


def check_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Embedded data dir (its nation.json); also where the locator key is."
        ),
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            help="CODE=URL of a node database whose process runs elsewhere (repeat); its relay is paused "
            "while the nodes are read.",
        ),
    ] = None,
    nats: Annotated[
        str | None, typer.Option("--nats", help="NATS URL: drain an embedded data dir over JetStream.")
    ] = None,
    no_drain: Annotated[bool, typer.Option("--no-drain", help="Read as is, without draining.")] = False,
    drain_timeout: Annotated[
        float | None,
        typer.Option(
            "--drain-timeout", help="Seconds to wait for the drain (TONGBAN_CHECK_DRAIN_TIMEOUT_S)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary only.")] = False,
) -> None:
    """Check the nation's invariants after letting in-flight messages drain (exit 1 on any finding)."""
    from tongban.core.checks import CheckSettings, run_check

    urls = _node_urls(node or [])
    settings = CheckSettings()
    if drain_timeout is not None:
        settings = settings.model_copy(update={"drain_timeout_s": drain_timeout})
    console = Console(soft_wrap=True)  # made here: the terminal's width is read when the command runs
    err_console = Console(stderr=True, soft_wrap=True)
    if as_json:
        report = run_check(
            data_dir=data_dir, node_urls=urls, nats_url=nats, drain=not no_drain, settings=settings
        )
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
        raise typer.Exit(report.exit_code)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("opening the nodes", total=None)

        def step(name: str) -> None:
            bar.update(task, description=name.replace("_", " "))

        report = run_check(
            data_dir=data_dir,
            node_urls=urls,
            nats_url=nats,
            drain=not no_drain,
            settings=settings,
            progress=step,
        )
    drained = report.drained
    if drained is not None:
        state = "complete" if drained.complete else "INCOMPLETE"
        console.print(f"drain ({drained.mode}): {state} in {drained.seconds:.1f} s")
        for code, what in sorted(drained.pending.items()):
            console.print(f"  {code}: still in flight {what}")
        for code, what in sorted(drained.parked.items()):
            console.print(f"  {code}: parked {what}")
        if drained.error:
            console.print(f"  {drained.error}")
    for error in report.errors:
        err_console.print(f"[red]error:[/red] {error}")
    if report.findings:
        table = Table(title=f"{len(report.findings)} finding(s)")
        for col in ("check", "node", "subject", "detail"):
            table.add_column(col, overflow="fold")
        for f in report.findings:
            table.add_row(f.check, f.node, f.subject, f.detail)
        console.print(table)
    counted = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()) if v)
    if report.findings:
        verdict = "findings: " + counted
    elif report.drain_failed and not report.errors:
        verdict = "no finding, but messages did not drain"
    else:
        verdict = "clean" if report.ok else "could not check"

    console.print(f"{len(report.nodes)} node(s) checked in {report.seconds:.2f} s: {verdict}")
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
