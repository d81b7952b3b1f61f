"""``tongban cert``: verify papers offline; fetch and cache issuers' revocation lists; paper keys."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tongban.core.clock import ensure_utc, utcnow
from tongban.core.i18n import gettext, normalize_locale
from tongban.papers.domain import PaperKeyResolver, Revocations, Status
from tongban.papers.keys import KEYS_FORMAT, FileKeyStore, StaticKeyResolver
from tongban.papers.render import paper_rows
from tongban.papers.verify import RevocationCache, load_revocation_files, verify

cert_app = typer.Typer(
    help="Electronic papers: verify offline, revocation lists, paper keys.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

EXIT_DIRECTORY_REFUSED = 4
EXIT_CODES = {Status.VALID: 0, Status.INVALID: 1, Status.EXPIRED: 2, Status.REVOKED: 3}

DirectoryOpt = Annotated[
    Path,
    typer.Option(
        "--directory", help="The directory (public paper keys) file to verify against.", exists=True
    ),
]


RootsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Trusted national root keys (default: directory-roots.json beside the directory).", exists=True
    ),
]


def load_resolver(path: Path, roots: Path | None = None, at: datetime | None = None) -> PaperKeyResolver:
    """Issuers' paper keys from the signed national directory (``directory.signed``, verified against the
    trusted root keys) or from a paper key list (``tongban.paper-keys.v1``)."""
    data = path.read_bytes()
    if data.lstrip().startswith(b'{"format":"' + KEYS_FORMAT.encode() + b'"'):
        return StaticKeyResolver.from_bytes(data)
    from tongban.exchange.settings import ExchangeSettings
    from tongban.papers.directory import DirectoryKeyResolver, DirectoryRefused, load_directory_file

    grace = timedelta(seconds=ExchangeSettings().directory_grace_s)
    try:
        directory = load_directory_file(path, roots_file=roots, at=at or utcnow(), grace=grace)
    except DirectoryRefused as exc:
        err_console.print(f"directory refused: {exc}")
        raise typer.Exit(EXIT_DIRECTORY_REFUSED) from None
    return DirectoryKeyResolver(directory)


@cert_app.command("verify")
def verify_command(
    file: Annotated[
        Path, typer.Argument(help="The paper: JSON, QR text, QR image (PNG/JPEG) or PDF.", exists=True)
    ],
    directory: DirectoryOpt,
    roots: RootsOpt = None,
    revocations: Annotated[
        list[Path] | None,
        typer.Option("--revocations", help="A signed revocation list file (repeatable).", exists=True),
    ] = None,
    cache: Annotated[Path | None, typer.Option(help="A folder of cached revocation lists.")] = None,
    at: Annotated[str | None, typer.Option(help="Verify as of this ISO 8601 time (default: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
    lang: Annotated[str, typer.Option(help="Language of the output (zh_CN or en).")] = "zh_CN",
) -> None:
    """Verify a paper offline. Exit 0 valid, 1 invalid, 2 expired, 3 revoked, 4 directory refused."""
    when = ensure_utc(datetime.fromisoformat(at)) if at else utcnow()
    resolver = load_resolver(directory, roots, when)
    held = load_revocation_files(revocations or [], resolver) if revocations else Revocations()
    if cache is not None:
        RevocationCache(cache).load(resolver, into=held)
    verdict = verify(file.read_bytes(), resolver, held, when)
    if as_json:
        typer.echo(json.dumps(verdict.to_json(), ensure_ascii=False, indent=2))
    else:
        locale = normalize_locale(lang)
        console.print(f"[bold]{gettext(locale, str(verdict.status).capitalize())}[/bold]")
        for reason in verdict.reasons:
            console.print("  " + gettext(locale, reason.message, **reason.params), markup=False)
        if verdict.paper is not None:
            console.print("  " + verdict.paper.type_name(locale), markup=False)
            for name, value in paper_rows(verdict.paper, locale):
                console.print(f"  {name}: {value}", markup=False)
    raise typer.Exit(EXIT_CODES[verdict.status])


rev_app = typer.Typer(help="Issuers' signed revocation lists.", no_args_is_help=True)
cert_app.add_typer(rev_app, name="revocations")


@rev_app.command("fetch")
def fetch_revocations(
    url: Annotated[
        str, typer.Argument(help="Base URL of a node serving the issuer, e.g. http://127.0.0.1:8000")
    ],
    issuer: Annotated[str, typer.Argument(help="The issuer's node code, e.g. 110000.")],
    directory: DirectoryOpt,
    roots: RootsOpt = None,
    cache: Annotated[Path, typer.Option(help="Folder of cached revocation lists.")] = Path(
        "var/paper-revocations"
    ),
) -> None:
    """Fetch an issuer's revocation list, verify it, and cache it when it is newer than the one held."""
    held = RevocationCache(cache).fetch(url, issuer, load_resolver(directory, roots))
    console.print(f"{issuer}: serial {held.serial}, {len(held.revoked)} revoked paper(s)")


keys_app = typer.Typer(help="Paper keys of the nodes of a data dir (until the directory carries them).")
cert_app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def create_key(
    issuer: Annotated[str, typer.Argument(help="The node code.")],
    data_dir: Annotated[Path, typer.Option("--data-dir")] = Path("var"),
) -> None:
    """Create a paper key for a node (valid from now); its public key goes into the key list."""
    key = FileKeyStore(data_dir / "paper-keys").create(issuer, not_before=utcnow())
    console.print(f"{issuer}: {key.key_id}")


@keys_app.command("export")
def export_keys(data_dir: Annotated[Path, typer.Option("--data-dir")] = Path("var")) -> None:
    """Print the public paper key list (give it to verifiers as --directory)."""
    typer.echo(FileKeyStore(data_dir / "paper-keys").resolver().to_bytes().decode("utf-8"))


def register(app: typer.Typer) -> None:
    app.add_typer(cert_app, name="cert")
