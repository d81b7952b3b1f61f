"""``tongban directory ...`` (the national operator's trust list) and ``tongban exchange ...`` (node operators)."""

from __future__ import annotations

import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.core import migrate
from tongban.core.node import open_node, read_manifest
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.directory import RevocationReason
from tongban.exchange.service import NodeExchange, directory_validity, retry_parked, status

console = Console()
err = Console(stderr=True)

directory_app = typer.Typer(
    help="The national directory of nodes and keys (signed by the root key).", no_args_is_help=True
)
exchange_app = typer.Typer(
    help="The exchange between nodes: status, parked messages, probes.", no_args_is_help=True
)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data dir (default: TONGBAN_DATA_DIR or var/).")
]
NodeOpt = Annotated[
    str | None, typer.Option("--node", help="One node's code (default: every node of the data dir).")
]
DbOpt = Annotated[str | None, typer.Option("--db", help="The node's database URL (with --node).")]


def _data_dir(data_dir: Path | None) -> Path:
    return data_dir if data_dir is not None else Settings().data_dir


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(message: str) -> typer.Exit:
    err.print(message)
    return typer.Exit(1)


@directory_app.command("init")
def directory_init(data_dir: DataDir = None, validity_days: int = 30) -> None:
    """Create the national root key and an empty signed directory."""
    try:
        d = directory_admin.init(_data_dir(data_dir), now=_now(), validity=timedelta(days=validity_days))
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    console.print(f"directory created: serial {d.serial}, expires {d.expires_at.isoformat()}")


@directory_app.command("add-node")
def directory_add_node(
    code: Annotated[str, typer.Option(help="Six-digit provincial code, e.g. 110000.")],
    name: Annotated[str, typer.Option(help="The node's name, e.g. 北京市.")],
    address: Annotated[
        str | None, typer.Option(help="Transport address (default tongban.node.<code>).")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Add a node with fresh keys for envelopes, papers and encryption."""
    try:
        d = directory_admin.add_node(_data_dir(data_dir), code=code, name=name, address=address, now=_now())
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    console.print(f"node {code} added: serial {d.serial}")


@directory_app.command("rotate-key")
def directory_rotate_key(
    code: Annotated[str, typer.Option()],
    purpose: Annotated[str, typer.Option(help="envelopes, papers or encryption.")],
    lead_hours: Annotated[float, typer.Option(help="Hours until the new key takes effect.")] = 24.0,
    overlap_hours: Annotated[float, typer.Option(help="Hours the old key stays valid after that.")] = 1.0,
    data_dir: DataDir = None,
) -> None:
    """Announce a new key, taking effect later so every node learns it first."""
    if purpose not in ("envelopes", "papers", "encryption"):
        raise _fail("purpose is one of envelopes, papers, encryption")
    try:
        d, key_id = directory_admin.rotate_key(
            _data_dir(data_dir),
            code=code,
            purpose=purpose,
            now=_now(),
            lead=timedelta(hours=lead_hours),
            overlap=timedelta(hours=overlap_hours),
        )
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    console.print(f"new {purpose} key {key_id} for {code}: serial {d.serial}")


@directory_app.command("revoke-key")
def directory_revoke_key(
    code: Annotated[str, typer.Option()],
    key_id: Annotated[str, typer.Option("--key-id")],
    reason: Annotated[RevocationReason, typer.Option(help="compromise distrusts everything the key signed.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key now."""
    try:
        d = directory_admin.revoke_key(
            _data_dir(data_dir), code=code, key_id=key_id, reason=reason, now=_now()
        )
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    console.print(f"key {key_id} of {code} revoked ({reason}): serial {d.serial}")


def _validity_text(expires_at: datetime, days_left: float) -> str:
    if days_left < 0:
        return f"expired {expires_at.isoformat()} ({-days_left:.1f} days ago)"
    return f"expires {expires_at.isoformat()} ({days_left:.1f} days left)"


@directory_app.command("resign")
def directory_resign(
    data_dir: DataDir = None,
    validity_days: Annotated[float, typer.Option(help="Days the re-signed directory is valid.")] = 30.0,
) -> None:
    """Re-sign the directory unchanged: a new serial and a new validity (before it expires)."""
    if validity_days <= 0:
        raise _fail("the validity is a positive number of days")
    now = _now()
    try:
        d = directory_admin.resign(_data_dir(data_dir), now=now, validity=timedelta(days=validity_days))
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"directory re-signed: serial {d.serial}, {_validity_text(d.expires_at, d.days_left(now))}",
        soft_wrap=True,
    )


@directory_app.command("show")
def directory_show(
    data_dir: DataDir = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Show the current directory."""
    try:
        d = directory_admin.show(_data_dir(data_dir), now=_now())
    except directory_admin.DirectoryEditError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        console.print_json(d.canonical_bytes().decode("utf-8"))
        return
    console.print(
        f"serial {d.serial} · issued {d.issued_at.isoformat()} · "
        f"{_validity_text(d.expires_at, d.days_left(_now()))}",
        soft_wrap=True,
    )
    table = Table("node", "name", "address", "purpose", "key id", "not before", "not after", "revoked")
    for node in sorted(d.nodes, key=lambda n: n.code):
        for k in sorted(node.keys, key=lambda k: (k.purpose, k.not_before)):
            revoked = f"{k.revoked_at.isoformat()} ({k.revocation_reason})" if k.revoked_at else ""
            table.add_row(
                node.code,
                node.name,
                node.address,
                k.purpose,
                k.key_id,
                k.not_before.isoformat(timespec="seconds"),
                k.not_after.isoformat(timespec="seconds") if k.not_after else "",
                revoked,
            )
    console.print(table)


def open_exchanges(
    data_dir: Path | None, node: str | None, db: str | None, *, upgrade: bool = False
) -> list[NodeExchange]:
    from tongban.exchange.runtime import node_exchange
    from tongban.web.runtime import single_node

    settings = Settings(data_dir=_data_dir(data_dir))
    entries = [single_node(settings, node, db)] if node else read_manifest(settings.data_dir)
    out = []
    for entry in entries:
        ctx = open_node(entry, settings)
        if upgrade:
            migrate.upgrade(ctx.db)
        out.append(node_exchange(ctx, settings.data_dir))
    if not out:
        raise _fail("no node: pass --node CODE --db URL, or a --data-dir with a nation.json")
    return out


@exchange_app.command("status")
def exchange_status(
    data_dir: DataDir = None,
    node: NodeOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Per peer: queued, awaiting receipt, acknowledged, parked, rejected; received, applied; refusals."""
    report = {}
    warnings: set[str] = set()
    for ex in open_exchanges(data_dir, node, db):
        report[ex.code] = [vars(p) for p in status(ex)]
        v = directory_validity(ex)
        if v.warn:
            warnings.add(
                f"warning: the directory (serial {v.serial}) {_validity_text(v.expires_at, v.days_left)}; "
                f"nodes refuse it {ex.settings.directory_grace_s / 86400:.0f} days after expiry: "
                "run `tongban directory resign`"
            )
        ex.node.db.dispose()
    for warning in sorted(warnings):
        err.print(warning, highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, sort_keys=True))
        return
    for code, peers in report.items():
        table = Table(
            "peer", "queued", "awaiting receipt", "acknowledged", "parked", "rejected",
            "received", "waiting", "applied", "parked (in)", "refused",
            title=f"node {code}",
        )  # fmt: skip
        for p in peers:
            refused = ", ".join(f"{k} {v}" for k, v in sorted(p["refused"].items()))
            table.add_row(
                p["peer"], *(str(p[k]) for k in (
                    "queued", "awaiting_receipt", "acknowledged", "parked", "rejected",
                    "received", "waiting", "applied", "inbox_parked",
                )), refused,
            )  # fmt: skip
        console.print(table)


@exchange_app.command("retry")
def exchange_retry(
    data_dir: DataDir = None,
    node: NodeOpt = None,
    db: DbOpt = None,
    envelope_id: Annotated[list[str] | None, typer.Option("--id", help="Only these envelope ids.")] = None,
) -> None:
    """Put parked messages (outgoing and incoming) back in line."""
    for ex in open_exchanges(data_dir, node, db):
        n = retry_parked(ex, ids=envelope_id or None)
        console.print(f"{ex.code}: {n} message(s) back in line")
        ex.node.db.dispose()


@exchange_app.command("probe")
def exchange_probe(
    to: Annotated[str, typer.Option("--to", help="The peer node's code.")],
    data_dir: DataDir = None,
    node: NodeOpt = None,
    db: DbOpt = None,
    count: int = 1,
    label: str = "probe",
) -> None:
    """Queue probe messages to a peer (applied there into its probe log)."""
    from tongban.exchange.probe import PROBE_TYPE
    from tongban.exchange.service import enqueue

    for ex in open_exchanges(data_dir, node, db):
        for i in range(count):
            with ex.node.db.transaction() as s:
                enqueue(s, node=ex.node, recipient=to, type=PROBE_TYPE, body={"label": f"{label}-{i}"})
        console.print(f"{ex.code}: {count} probe(s) queued to {to}")
        ex.node.db.dispose()


@exchange_app.command("run")
def exchange_run(
    data_dir: DataDir = None,
    node: NodeOpt = None,
    db: DbOpt = None,
    nats: Annotated[str | None, typer.Option(help="NATS URL (default: the embedded transport).")] = None,
) -> None:
    """Run the exchange of one node (or of every node of the data dir) without the web, until stopped."""
    from tongban.exchange.jobs import ExchangeRunner
    from tongban.exchange.runtime import transport_for

    exchanges = open_exchanges(data_dir, node, db, upgrade=True)
    settings = exchanges[0].settings
    runner = ExchangeRunner(exchanges, lambda: transport_for(nats, settings))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    console.print(f"exchange running for {', '.join(ex.code for ex in exchanges)}", highlight=False)
    stop.wait()
    runner.stop()


def register(app: typer.Typer) -> None:
    import tongban.exchange.locator  # registers the locator types
    import tongban.exchange.probe  # noqa: F401  (registers the probe type and its handler)

    app.add_typer(directory_app, name="directory")
    app.add_typer(exchange_app, name="exchange")
