"""``tongban audit verify`` and ``tongban audit seal``: check and link a node's audit chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tongban.core.clock import SystemClock
from tongban.core.db import Database

audit_app = typer.Typer(help="Audit log: seal and verify each node's hash chain.", no_args_is_help=True)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded data dir (default: TONGBAN_DATA_DIR or var/).")
]
DbUrlOpt = Annotated[str | None, typer.Option("--db", help="A node database URL (SQLite or PostgreSQL).")]
NodeOpt = Annotated[str | None, typer.Option("--node", help="Only this node (six-digit code).")]


def _targets(data_dir: Path | None, db: str | None, node: str | None) -> list[tuple[str, Database]]:
    from tongban.cli import target_databases  # at call time: tongban.cli imports this module

    targets = target_databases(data_dir, db)
    if node is not None and db is None:
        targets = [(name, database) for name, database in targets if name == node]
    elif node is not None:
        targets = [(node, database) for _, database in targets]
    if not targets:
        err_console.print("No node database found: pass --db URL, or a --data-dir with a nation.json.")
        raise typer.Exit(2)
    return targets


@audit_app.command("verify")
def verify(data_dir: DataDirOpt = None, db: DbUrlOpt = None, node: NodeOpt = None) -> None:
    """Check each node's audit chain end to end; report the first broken link (exit 1 on any fault)."""
    from tongban.audit.verify import verify_chain

    failed = 0
    for name, database in _targets(data_dir, db, node):
        label = name if db is None or node else "database"
        with database.session() as s:
            report = verify_chain(s)
        database.dispose()
        if report.ok:
            console.print(
                f"{label}: audit chain intact: {report.sealed} sealed row(s), head at position "
                f"{report.head_pos} {report.head_hash[:16]}…, {report.pending} pending"
            )
            continue
        failed += 1
        first = report.first
        assert first is not None
        err_console.print(f"{label}: audit chain BROKEN: first broken link at {first.describe()}")
        if len(report.faults) > 1:
            err_console.print(f"{label}: {len(report.faults)} fault(s) in all")
    raise typer.Exit(1 if failed else 0)


PeerDbOpt = Annotated[
    list[str] | None,
    typer.Option("--peer-db", help="A peer node's database URL (repeat); with --db and --node."),
]


@audit_app.command("peers")
def peers(
    data_dir: DataDirOpt = None, db: DbUrlOpt = None, node: NodeOpt = None, peer_db: PeerDbOpt = None
) -> None:
    """Compare each node's audit chain with the chain heads its peers received from it (exit 1 on a fault).

    With --data-dir every node is checked against the heads held by the other nodes of the data dir; with
    --db, --node and --peer-db one node against the databases given.
    """
    from tongban.audit.peers import compare_with_heads, heads_held
    from tongban.audit.verify import verify_chain

    if db is not None:
        if node is None or not peer_db:
            err_console.print("With --db, give --node CODE and at least one --peer-db URL.")
            raise typer.Exit(2)
        from tongban.cli import target_databases

        checked = [(node, target_databases(None, db)[0][1])]
        holders = [(f"peer {i + 1}", target_databases(None, url)[0][1]) for i, url in enumerate(peer_db)]
    else:
        everyone = _targets(data_dir, None, None)
        checked = [(n, d) for n, d in everyone if node is None or n == node]
        holders = everyone
    failed = 0
    try:
        for name, database in checked:
            held = []
            for holder, hdb in holders:
                if hdb is database:
                    continue
                with hdb.session() as s:
                    held += heads_held(s, holder=holder, about=name)
            with database.session() as s:
                faults = verify_chain(s).faults + compare_with_heads(s, held)
            if not faults:
                console.print(f"{name}: audit chain matches the {len(held)} head(s) its peers hold")
                continue
            failed += 1
            err_console.print(f"{name}: audit chain BROKEN: first broken link at {faults[0].describe()}")
            if len(faults) > 1:
                err_console.print(f"{name}: {len(faults)} fault(s) in all")
    finally:
        for _, d in {id(d): (n, d) for n, d in [*checked, *holders]}.values():
            d.dispose()
    raise typer.Exit(1 if failed else 0)


@audit_app.command("seal")
def seal(data_dir: DataDirOpt = None, db: DbUrlOpt = None, node: NodeOpt = None) -> None:
    """Seal the pending audit rows of each node now (the running service does this on its own)."""
    from tongban.audit.jobs import seal_pending

    for name, database in _targets(data_dir, db, node):
        n = seal_pending(database, clock=SystemClock())
        database.dispose()
        console.print(f"{name if db is None or node else 'database'}: sealed {n} row(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
