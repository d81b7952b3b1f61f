"""``tongban chaos``: node processes under faults, every operation classified (docs/reliability.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command("chaos")
    def chaos(
        seed: Annotated[
            int, typer.Option(help="Seed of the operations and the fault schedule (replayable).")
        ],
        duration: Annotated[float, typer.Option(help="Seconds of operations under faults.")] = 60.0,
        nodes: Annotated[int, typer.Option(help="Node processes (2 to 5).")] = 2,
        workload: Annotated[
            str, typer.Option(help="Operations: mixed (CERT and migrations), cert, migration.")
        ] = "mixed",
        keep: Annotated[
            bool, typer.Option(help="Keep the logs and data dir also when the run is clean.")
        ] = False,
        out: Annotated[
            Path | None, typer.Option("--out", help="Also write the JSON result to this file.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="The result as JSON on stdout.")] = False,
        rate: Annotated[
            float | None,
            typer.Option(
                help="Operations started per second on average (default 4, TONGBAN_CHAOS_RATE_PER_S)."
            ),
        ] = None,
        quiesce_timeout: Annotated[
            float | None,
            typer.Option(
                help="Seconds the quiesce may take at least (default 120, TONGBAN_CHAOS_QUIESCE_TIMEOUT_S); "
                "raised by TONGBAN_CHAOS_QUIESCE_PER_MESSAGE_S per message in flight when the operations end."
            ),
        ] = None,
    ) -> None:
        """Run node processes on PostgreSQL over a 3-server JetStream cluster under seeded faults, then
        classify every operation (ok, recovered, lost, duplicated, unexpected) and run the checker.

        Exit 1 on any lost, duplicated or unexpected operation, an unquiesced run or a checker finding.
        Needs PostgreSQL (TONGBAN_CHAOS_PG_ADMIN_URL) and nats-server (TONGBAN_CHAOS_NATS_SERVER).
        """
        from tongban.chaos.run import run_chaos
        from tongban.chaos.settings import ChaosSettings
        from tongban.chaos.workload import WORKLOADS

        overrides: dict[str, float] = {}
        if rate is not None:
            if rate <= 0:
                raise typer.BadParameter("a rate above 0", param_hint="--rate")
            overrides["rate_per_s"] = rate
        if quiesce_timeout is not None:
            overrides["quiesce_timeout_s"] = quiesce_timeout
        settings = ChaosSettings(**overrides)  # type: ignore[arg-type]

        if workload not in WORKLOADS:
            raise typer.BadParameter(f"workloads: {', '.join(sorted(WORKLOADS))}", param_hint="--workload")
        with Progress(
            TextColumn("[bold]chaos[/] {task.description}"), TimeElapsedColumn(), console=err, transient=True
        ) as progress:
            task = progress.add_task("setting up", total=None)

            def on_progress(submitted: int, accepted: int, failed: int) -> None:
                progress.update(task, description=f"operations: {accepted} accepted, {failed} refused")

            def say(line: str) -> None:
                progress.console.print(line, markup=False, highlight=False)

            try:
                result = run_chaos(
                    seed=seed,
                    duration=duration,
                    nodes=nodes,
                    workload=workload,
                    settings=settings,
                    keep=keep,
                    say=say,
                    on_progress=on_progress,
                )
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from exc
        data = result.to_json()
        if out is not None:
            out.write_text(json.dumps(data, indent=1, ensure_ascii=False))
        if as_json:
            print(json.dumps(data, ensure_ascii=False))
        else:
            console.print(
                f"chaos seed {seed}: {result.operations} operations in {duration:g} s on {nodes} nodes"
            )
            table = Table()
            table.add_column("outcome")
            table.add_column("operations", justify="right")
            for name in ("ok", "recovered", "lost", "duplicated", "unexpected", "not-accepted"):
                table.add_row(name, str(result.outcomes.get(name, 0)))
            console.print(table)
            for f in result.findings:
                console.print(f"  {f['op']}: {f['outcome']} {f['detail']}")
            for line in result.unexpected_effects:
                console.print(f"  unexpected effect: {line}")
            carried = ", ".join(f"{v} {k}" for k, v in sorted(result.faults_carried_out.items()))
            console.print(
                f"faults: {result.faults_done} carried out ({carried}), {len(result.fault_events)} events; "
                f"quiesced: {result.quiesced} ({result.quiesce_s} s of at most {result.quiesce_limit_s:.0f} s, "
                f"backlog {result.backlog})"
            )
            if result.supervised_restarts or result.clerks:
                console.print(f"started again after exiting at start: {result.supervised_restarts or 'none'}")
                console.print(f"clerks: {result.clerks}")
            console.print(
                f"rate {result.rate_per_s:g}/s; arrivals held back {result.arrivals_held_s:g} s "
                "(the submitters were behind)"
            )
            console.print(
                "wall time: "
                + ", ".join(f"{k} {v:g} s" for k, v in result.phases_s.items())
                + f"; {result.elapsed_s:g} s in all; load average "
                + "; ".join(f"{k} {v}" for k, v in result.load_average.items())
            )
            console.print(f"check: {result.check.get('line') or result.check.get('status')}")
            if result.logs:
                console.print(f"logs: {result.logs}")
            console.print(f"replay: {result.replay}")
        raise typer.Exit(1 if result.failed else 0)
