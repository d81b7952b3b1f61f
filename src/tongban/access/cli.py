"""``tongban user add / list / disable / enable / reset-password / enroll-totp``: accounts, for administrators."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.access import credentials, service
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.access.settings import AccessSettings
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.errors import TongbanError
from tongban.core.settings import Settings

user_app = typer.Typer(
    help="Accounts of a node: add, list, disable, reset passwords, second factors.", no_args_is_help=True
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)
ACTOR = "cli:admin"

DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded data dir (default: TONGBAN_DATA_DIR or var/).")
]
DbUrlOpt = Annotated[str | None, typer.Option("--db", help="The node's database URL (SQLite or PostgreSQL).")]
NodeOpt = Annotated[
    str | None,
    typer.Option("--node", help="The node (six-digit code); needed with a data dir of several nodes."),
]


def _open(data_dir: Path | None, db: str | None, node: str | None) -> tuple[Database, Settings]:
    from tongban.cli import settings_for, target_databases  # at call time: tongban.cli imports this module

    settings = settings_for(data_dir, db)
    targets = target_databases(data_dir, db)
    if db is None and node is not None:
        targets = [t for t in targets if t[0] == node]
    if len(targets) != 1:
        err_console.print(
            "Name exactly one node database: --db URL, or --data-dir with --node CODE "
            f"({len(targets)} found)."
        )
        raise typer.Exit(2)
    return targets[0][1], settings


def _password(given: str | None) -> str:
    if given:
        return given
    first = getpass.getpass("New password: ")
    if first != getpass.getpass("Repeat it: "):
        err_console.print("The two passwords differ.")
        raise typer.Exit(2)
    return first


def _login(settings: Settings, login: str, role: Role) -> str:
    return credentials.citizen_login(app_secret(settings), login) if role is Role.CITIZEN else login


@user_app.command("add")
def add(
    login: Annotated[
        str, typer.Argument(help="User name (staff, enterprise), or the ID number of a citizen.")
    ],
    role: Annotated[Role, typer.Option(help="Role of the account.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    division: Annotated[
        str | None, typer.Option(help="Six-digit division code of the office (staff).")
    ] = None,
    office: Annotated[str | None, typer.Option(help="Office code (staff).")] = None,
    person: Annotated[str | None, typer.Option(help="Registry person id (citizens).")] = None,
    enterprise: Annotated[str | None, typer.Option(help="Enterprise id (enterprise users).")] = None,
    password: Annotated[str | None, typer.Option(help="Initial password (asked for when omitted).")] = None,
    data_dir: DataDirOpt = None,
    db: DbUrlOpt = None,
    node: NodeOpt = None,
) -> None:
    """Create an account."""
    database, settings = _open(data_dir, db, node)
    try:
        user = service.add_user(
            database,
            settings=AccessSettings(),
            now=SystemClock().now(),
            actor=ACTOR,
            login=_login(settings, login, role),
            role=role,
            display_name=name,
            password=_password(password),
            division_code=division,
            office_code=office,
            person_ref=person,
            enterprise_id=enterprise,
        )
    except TongbanError as exc:
        err_console.print(f"Refused: {exc.render()}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    console.print(f"Account {user.id} created ({user.role.value}).")


@user_app.command("list")
def list_(
    division: Annotated[
        str | None, typer.Option(help="Only accounts whose division starts with this.")
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbUrlOpt = None,
    node: NodeOpt = None,
) -> None:
    """List accounts (a citizen's sign-in name is a digest of their ID number and is not shown)."""
    database, _ = _open(data_dir, db, node)
    rows = service.list_users(database, division_prefix=division, limit=100_000)
    database.dispose()
    table = Table("id", "login", "role", "name", "division", "office", "2FA", "status")
    for u in rows:
        status = "disabled" if u.disabled else "locked" if u.locked else "active"
        login = "(citizen)" if u.role is Role.CITIZEN else u.login
        table.add_row(
            str(u.id),
            login,
            u.role.value,
            u.display_name,
            u.division_code or "",
            u.office_code or "",
            "yes" if u.totp_enrolled else "no",
            status,
        )
    console.print(table)


def _find(database: Database, settings: Settings, login: str) -> service.UserInfo:
    try:
        if login.isdigit() and len(login) < 10:
            return service.get_user(database, user_id=int(login))
        try:
            return service.get_user(database, login=login)
        except TongbanError:
            return service.get_user(database, login=credentials.citizen_login(app_secret(settings), login))
    except TongbanError:
        database.dispose()
        err_console.print("No such account.")
        raise typer.Exit(1) from None


@user_app.command("disable")
def disable(
    login: Annotated[str, typer.Argument(help="Account id, user name, or a citizen's ID number.")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the account again instead.")] = False,
    data_dir: DataDirOpt = None,
    db: DbUrlOpt = None,
    node: NodeOpt = None,
) -> None:
    """Disable an account (its sessions end at once), or enable it again with --enable."""
    database, settings = _open(data_dir, db, node)
    user = _find(database, settings, login)
    service.set_disabled(database, user_id=user.id, disabled=not enable, actor=ACTOR, now=SystemClock().now())
    database.dispose()
    console.print(f"Account {user.id} {'enabled' if enable else 'disabled'}.")


@user_app.command("reset-password")
def reset_password(
    login: Annotated[str, typer.Argument(help="Account id, user name, or a citizen's ID number.")],
    password: Annotated[str | None, typer.Option(help="New password (asked for when omitted).")] = None,
    reset_totp: Annotated[
        bool, typer.Option("--reset-totp", help="Also make the account enrol a new second factor.")
    ] = False,
    data_dir: DataDirOpt = None,
    db: DbUrlOpt = None,
    node: NodeOpt = None,
) -> None:
    """Set a new password; this also unlocks the account and ends its sessions."""
    database, settings = _open(data_dir, db, node)
    user = _find(database, settings, login)
    try:
        service.reset_password(
            database,
            settings=AccessSettings(),
            user_id=user.id,
            password=_password(password),
            actor=ACTOR,
            now=SystemClock().now(),
            reset_totp=reset_totp,
        )
    except TongbanError as exc:
        err_console.print(f"Refused: {exc.render()}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    console.print(f"Password of account {user.id} reset; the account is unlocked.")


@user_app.command("enroll-totp")
def enroll_totp(
    login: Annotated[str, typer.Argument(help="Account id or user name.")],
    code: Annotated[
        str | None, typer.Option(help="Code from the app, to confirm (asked for when omitted).")
    ] = None,
    data_dir: DataDirOpt = None,
    db: DbUrlOpt = None,
    node: NodeOpt = None,
) -> None:
    """Enrol a second factor at the console: shows the key and its QR code, then checks one code."""
    database, settings = _open(data_dir, db, node)
    user = _find(database, settings, login)
    try:
        key = app_secret(settings)
        secret = service.pending_totp_secret(
            database, user_id=user.id, key=key
        ) or service.start_totp_enrolment(database, user_id=user.id, key=key)
        uri = credentials.totp_uri(secret, account=user.login, issuer=AccessSettings().totp_issuer)
        import segno

        segno.make(uri, error="m").terminal(compact=True)
        console.print(f"Key: {secret}")
        given = code or typer.prompt("Code shown by the app")
        service.check_totp(
            database,
            settings=AccessSettings(),
            key=key,
            user_id=user.id,
            code=given,
            now=SystemClock().now(),
            actor=ACTOR,
        )
    except TongbanError as exc:
        err_console.print(f"Refused: {exc.render()}")
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    console.print(f"Second factor of account {user.id} enrolled.")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
