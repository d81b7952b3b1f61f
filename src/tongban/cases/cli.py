"""``tongban calendar ...``: working-day arithmetic from the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from tongban.cases.calendar import DueDate, Pause, ScheduleError, TimeLimit, WorkingCalendar
from tongban.core.i18n import N_, gettext, normalize_locale
from tongban.core.settings import Settings

calendar_app = typer.Typer(help="Working days and due dates of time limits.", no_args_is_help=True)


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _parse_pause(value: str) -> Pause:
    first, sep, last = value.partition("..")
    if not sep:
        raise typer.BadParameter(f"a pause is FIRST..LAST (YYYY-MM-DD..YYYY-MM-DD): {value!r}")
    try:
        return Pause(_parse_date(first), _parse_date(last))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def warning_text(locale: str, result: DueDate) -> str | None:
    if result.complete:
        return None
    return gettext(
        locale,
        N_(
            "Warning: no holiday data for {years}; only weekends were skipped there. "
            "Supply the year's schedule in the calendar directory."
        ),
        years=", ".join(str(y) for y in result.years_without_data),
    )


@calendar_app.command("due")
def due(
    from_: Annotated[str, typer.Option("--from", help="Day of acceptance (not counted), YYYY-MM-DD.")],
    working_days: Annotated[int | None, typer.Option("--working-days", min=0, max=3660)] = None,
    days: Annotated[int | None, typer.Option("--days", min=0, max=3660, help="Calendar days.")] = None,
    pause: Annotated[
        list[str] | None,
        typer.Option("--pause", help="A pause FIRST..LAST: the days after FIRST up to LAST do not count."),
    ] = None,
    calendar_dir: Annotated[
        Path | None, typer.Option("--calendar-dir", help="Operators' <year>.toml schedules.")
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh-CN or en.")] = None,
) -> None:
    """Print the due date of a time limit that starts the day after --from."""
    settings = Settings()
    locale = normalize_locale(lang or settings.default_locale)
    if (working_days is None) == (days is None):
        raise typer.BadParameter("give exactly one of --working-days and --days")
    limit = (
        TimeLimit.working_days(working_days)
        if working_days is not None
        else TimeLimit.calendar_days(days or 0)
    )
    try:
        calendar = WorkingCalendar.from_dir(calendar_dir or settings.calendar_dir)
    except ScheduleError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    result = calendar.due(_parse_date(from_), limit, [_parse_pause(p) for p in pause or []])
    typer.echo(result.due.isoformat())
    warning = warning_text(locale, result)
    if warning:
        typer.echo(warning, err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")
