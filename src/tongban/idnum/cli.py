"""``tongban id check NUMBER`` and ``tongban id upgrade NUMBER15``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.core.i18n import N_, Translator
from tongban.divisions.cli import LangOpt, cli_locale, label
from tongban.divisions.domain import get_catalog
from tongban.idnum.domain import InvalidIdNumber, Sex, parse_id, upgrade_15

id_app = typer.Typer(help="Resident ID numbers (GB 11643-1999): check, convert.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

SEX_NAMES = {Sex.MALE: N_("male"), Sex.FEMALE: N_("female")}


def _fail(t: Translator, error: InvalidIdNumber) -> typer.Exit:
    err_console.print(t("Invalid ID number: {reason}", reason=t(error.message, **error.params)))
    return typer.Exit(1)


def _area(t: Translator, code: str, year: int) -> str:
    """The address code with the name of its division (as at the birth year when the data reaches back)."""
    catalog = get_catalog()
    division = catalog.get(code, year) or catalog.get(code)
    if division is None:
        return code
    text = label(division)
    latest = catalog.get(code)
    if latest is not None and latest.end_year is not None:
        text += " · " + t("code not in use since {year}", year=latest.end_year)
    return text


@id_app.command("check")
def check(
    number: Annotated[
        str, typer.Argument(help="An 18-character ID number (15-digit ones are converted first).")
    ],
    lang: LangOpt = None,
) -> None:
    """Check an ID number: print its address code, birth date, sex and sequence (exit 0), or what is wrong (exit 1)."""
    t = Translator(cli_locale(lang))
    try:
        text = number.strip()
        converted = None
        if len(text) == 15:
            converted = upgrade_15(text)
            text = converted
        parsed = parse_id(text)
    except InvalidIdNumber as error:
        raise _fail(t, error) from None
    table = Table(show_header=False, box=None)
    table.add_row(t("Number"), parsed.number)
    if converted:
        table.add_row("", t("converted from the 15-digit number"))
    table.add_row(t("Area"), _area(t, parsed.area, parsed.birth_date.year))
    table.add_row(t("Born"), parsed.birth_date.isoformat())
    table.add_row(t("Sex"), t(SEX_NAMES[parsed.sex]))
    table.add_row(t("Sequence"), f"{parsed.sequence:03d}")
    table.add_row(t("Check character"), parsed.check)
    console.print(table)


@id_app.command("upgrade")
def upgrade(
    number: Annotated[str, typer.Argument(help="A 15-digit first-generation ID number.")],
    lang: LangOpt = None,
) -> None:
    """Convert a 15-digit first-generation number to its 18-character form (exit 1 if it is not valid)."""
    t = Translator(cli_locale(lang))
    try:
        console.print(upgrade_15(number))
    except InvalidIdNumber as error:
        raise _fail(t, error) from None


def register(app: typer.Typer) -> None:
    app.add_typer(id_app, name="id")
