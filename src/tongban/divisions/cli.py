"""``tongban division show CODE [--year Y]`` and ``tongban division list``."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tongban.core.i18n import N_, Translator, normalize_locale
from tongban.divisions.domain import Division, DivisionCatalog, Level, get_catalog

division_app = typer.Typer(
    help="Administrative divisions (GB/T 2260) by code and year.", no_args_is_help=True
)
console = Console()
err_console = Console(stderr=True)

LEVEL_NAMES = {
    Level.PROVINCE: N_("provincial level"),
    Level.PREFECTURE: N_("prefecture level"),
    Level.COUNTY: N_("county level"),
}

LangOpt = Annotated[
    str | None,
    typer.Option("--lang", help="Language of the output: zh_CN or en (default: from LANG, else zh_CN)."),
]


def cli_locale(lang: str | None = None) -> str:
    """The language of command output: ``--lang``, else the gettext environment, else the project default."""
    if lang:
        return normalize_locale(lang)
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "").strip()
        if not value:
            continue
        if value.split(".")[0] in ("C", "POSIX"):
            return "en"
        return normalize_locale(value)
    from tongban.core.settings import get_settings

    return normalize_locale(get_settings().default_locale)


def label(d: Division) -> str:
    return f"{d.code} {d.name} ({d.pinyin})"


def _status_line(t: Translator, catalog: DivisionCatalog, d: Division) -> str:
    if d.end_year is None:
        return t(
            "in use since {start} (year-end lists to {data_year})",
            start=d.start_year,
            data_year=catalog.data_year,
        )
    return t(
        "not in use since {end} (in use {start} to {last})",
        end=d.end_year,
        start=d.start_year,
        last=d.end_year - 1,
    )


@division_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="A 6-digit division code, e.g. 110105.")],
    year: Annotated[int | None, typer.Option(help="The code as it stood at the end of this year.")] = None,
    lang: LangOpt = None,
) -> None:
    """Show a division: name in hanzi and pinyin, level, parent, province, in use or since when not, successors."""
    t = Translator(cli_locale(lang))
    catalog = get_catalog()
    code = code.strip()
    if not catalog.ever_existed(code):
        err_console.print(t("Unknown division code {code}: no such code since 1981", code=code))
        raise typer.Exit(1)
    d = catalog.get(code, year)
    if d is None:
        assert year is not None
        periods = ", ".join(
            f"{h.start_year}-{h.last_year if h.last_year is not None else ''} {h.name}"
            for h in catalog.history(code)
        )
        err_console.print(
            t(
                "Division code {code} was not in use in {year}; it was: {periods}",
                code=code,
                year=year,
                periods=periods,
            )
        )
        raise typer.Exit(1)
    at = year if year is not None else (d.last_year if d.last_year is not None else catalog.data_year)
    table = Table(show_header=False, box=None)
    table.add_row(t("Code"), d.code)
    table.add_row(t("Division name"), f"{d.name} ({d.pinyin})")
    table.add_row(t("Level"), t(LEVEL_NAMES[d.level]))
    parent = catalog.parent(code, at)
    if parent is not None:
        table.add_row(t("Parent division"), label(parent))
    if d.level is not Level.PROVINCE:
        province = catalog.get(d.province_code, at) or catalog.get(d.province_code)
        table.add_row(t("Province"), label(province) if province else d.province_name)
    table.add_row(t("Status"), _status_line(t, catalog, d))
    successors = catalog.successors(code, d.start_year)
    if successors:
        table.add_row(t("Succeeded by"), "; ".join(label(s) for s in successors))
        current = catalog.current_successors(code, d.start_year)
        if current and [c.code for c in current] != [s.code for s in successors]:
            table.add_row(t("Now part of"), "; ".join(label(c) for c in current))
    for to_code, in_year in d.transfers:
        target = catalog.get(to_code, in_year) or catalog.get(to_code)
        name = label(target) if target else to_code
        table.add_row(t("Part transferred"), t("{year}: to {division}", year=in_year, division=name))
    history = catalog.history(code)
    if len(history) > 1:
        table.add_row(
            t("History"),
            "\n".join(
                f"{h.start_year}–{h.last_year if h.last_year is not None else ''} {h.name}" for h in history
            ),
        )
    console.print(table)


@division_app.command("list")
def list_(
    province: Annotated[
        str | None, typer.Option(help="A provincial code (e.g. 110000): list its divisions.")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="List the divisions directly under this code.")] = None,
    year: Annotated[
        int | None, typer.Option(help="As at the end of this year (default: the data year).")
    ] = None,
    lang: LangOpt = None,
) -> None:
    """List provinces; the county-level divisions of a province; or the divisions directly under a code."""
    t = Translator(cli_locale(lang))
    catalog = get_catalog()
    if parent:
        if not catalog.ever_existed(parent):
            err_console.print(t("Unknown division code {code}: no such code since 1981", code=parent))
            raise typer.Exit(1)
        rows = catalog.children(parent, year)
    elif province:
        found = catalog.get(province)
        if found is None or found.level is not Level.PROVINCE:
            err_console.print(t("Unknown provincial code {code}", code=province))
            raise typer.Exit(1)
        rows = catalog.counties_of(province, year)
    else:
        rows = catalog.provinces(year)
    table = Table(t("Code"), t("Division name"), t("Pinyin"), t("Level"), t("Parent division"))
    for d in rows:
        table.add_row(d.code, d.name, d.pinyin, t(LEVEL_NAMES[d.level]), d.parent_code or "")
    console.print(table)
    console.print(t("{count} divisions", count=len(rows)))


@division_app.command("find")
def find(
    text: Annotated[str, typer.Argument(help="Part of a name, in hanzi or pinyin (e.g. 长治, changzhi).")],
    year: Annotated[
        int | None, typer.Option(help="Divisions in use at the end of this year (default: the data year).")
    ] = None,
    lang: LangOpt = None,
) -> None:
    """Find divisions by part of their name in hanzi or pinyin (exit 1 when none match)."""
    t = Translator(cli_locale(lang))
    rows = get_catalog().search(text, year, limit=50)
    if not rows:
        err_console.print(t("No division matches {text}", text=text))
        raise typer.Exit(1)
    table = Table(t("Code"), t("Division name"), t("Pinyin"), t("Level"), t("Parent division"))
    for d in rows:
        table.add_row(d.code, d.name, d.pinyin, t(LEVEL_NAMES[d.level]), d.parent_name or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(division_app, name="division")
