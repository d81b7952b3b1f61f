"""``tongban calendar ...`` (working-day arithmetic) and ``tongban case ...`` (cases of one node)."""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from tongban.cases import jobs, service
from tongban.cases.calendar import DayUnit, DueDate, Pause, ScheduleError, TimeLimit, WorkingCalendar
from tongban.cases.catalog import MatterCatalog
from tongban.cases.domain import Case, CaseAction
from tongban.cases.policy import Decision
from tongban.core.errors import TongbanError
from tongban.core.i18n import N_, Translator, gettext, normalize_locale
from tongban.core.node import NodeContext, NodeEntry, open_node, read_manifest
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


case_app = typer.Typer(
    help="Cases of one node: accept, show, list, act, sweep deadlines.", no_args_is_help=True
)

NodeOpt = Annotated[str, typer.Option("--node", help="The node (provincial code, e.g. 310000).")]
DbOpt = Annotated[str | None, typer.Option("--db", help="The node's database URL.")]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Embedded data dir (default: TONGBAN_DATA_DIR).")
]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts, as recorded in the history.")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="zh-CN or en.")]


def open_node_for(code: str, db: str | None, data_dir: Path | None) -> NodeContext:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)  # type: ignore[arg-type]
    entry = next((e for e in read_manifest(settings.data_dir) if e.code == code), None)
    if db is None and entry is None:
        raise typer.BadParameter(f"node {code} is not in {settings.data_dir}; give --db")
    return open_node(NodeEntry(code=code, name=entry.name if entry else code, db_url=db), settings)


def _fail(exc: TongbanError, locale: str) -> typer.Exit:
    typer.echo(gettext(locale, exc.message, **exc.params), err=True)
    return typer.Exit(1)


def _case_lines(case: Case, locale: str, calendar: WorkingCalendar, now: datetime) -> list[str]:
    _ = Translator(locale)
    lines = [
        f"{_('Case')}: {case.number}",
        f"{_('Matter')}: {case.matter} ({case.procedure})",
        f"{_('State')}: {case.state.value}" + (f" ({case.close_reason.value})" if case.close_reason else ""),
        f"{_('Accepted at')}: {case.accepted_at.isoformat() if case.accepted_at else ''}",
        f"{_('Accepting office')}: {case.accepting_office}",
    ]
    if case.due is not None:
        lines.append(f"{_('Due')}: {case.due.isoformat()}")
    if case.materials_due is not None:
        lines.append(
            f"{_('Materials due')}: {case.materials_due.isoformat()} ({', '.join(case.missing_materials)})"
        )
    left = case.time_left(calendar, now)
    if left is not None:
        label = _("Working days left") if left.unit is DayUnit.WORKING_DAYS else _("Calendar days left")
        lines.append(f"{label}: {left.days}")
    if case.overdue_at is not None:
        lines.append(f"{_('Overdue since')}: {case.overdue_at.isoformat()}")
    if case.years_without_data:
        lines.append(warning_text(locale, DueDate(case.due or date.min, case.years_without_data)) or "")
    return lines


@case_app.command("matters")
def matters(lang: LangOpt = None) -> None:
    """List the matter catalog."""
    locale = normalize_locale(lang or Settings().default_locale)
    for matter in MatterCatalog.load():
        typer.echo(f"{matter.code}\t{matter.mode.value}\t{matter.name.get(locale)}")


@case_app.command("accept")
def accept(
    node: NodeOpt,
    matter: Annotated[str, typer.Option("--matter")],
    applicant: Annotated[str, typer.Option("--applicant", help="Opaque reference of the applicant.")],
    office: Annotated[str, typer.Option("--office", help="The accepting office.")],
    procedure: Annotated[str | None, typer.Option("--procedure")] = None,
    actor: ActorOpt = "cli",
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    lang: LangOpt = None,
) -> None:
    """Accept an application: prints the case number and the promised date."""
    ctx = open_node_for(node, db, data_dir)
    locale = normalize_locale(lang or ctx.settings.default_locale)
    try:
        case = service.accept_case(
            ctx, matter=matter, applicant=applicant, office=office, actor=actor, procedure=procedure
        )
    except TongbanError as exc:
        raise _fail(exc, locale) from exc
    finally:
        ctx.db.dispose()
    typer.echo(f"{case.number}\t{case.due.isoformat() if case.due else ''}")
    if case.years_without_data:
        typer.echo(warning_text(locale, DueDate(case.due or date.min, case.years_without_data)), err=True)


@case_app.command("show")
def show(
    number: str, node: NodeOpt, db: DbOpt = None, data_dir: DataDirOpt = None, lang: LangOpt = None
) -> None:
    """A case with its history and its decision in words."""
    ctx = open_node_for(node, db, data_dir)
    locale = normalize_locale(lang or ctx.settings.default_locale)
    try:
        case = service.get_case(ctx, number=number)
        calendar = service.cases_setup(ctx).calendar
    except TongbanError as exc:
        raise _fail(exc, locale) from exc
    finally:
        ctx.db.dispose()
    for line in _case_lines(case, locale, calendar, ctx.clock.now()):
        typer.echo(line)
    if case.decision is not None:
        typer.echo(
            Translator(locale)(N_("Decision")) + ": " + Decision.from_dict(case.decision).explain(locale)
        )
    for e in case.events:
        why = f" - {e.reason}" if e.reason else ""
        typer.echo(f"  {e.seq:3d} {e.at.isoformat()} {e.actor} {e.action} -> {e.to_state}{why}")


@case_app.command("list")
def list_(
    node: NodeOpt,
    office: Annotated[str | None, typer.Option("--office")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include closed cases.")] = False,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Open cases (or all), soonest deadline first: number, matter, state, due date."""
    ctx = open_node_for(node, db, data_dir)
    try:
        cases = service.list_cases(ctx, office=office, include_closed=all_)
    finally:
        ctx.db.dispose()
    for c in cases:
        due = c.materials_due if c.state.value == "awaiting_materials" else c.due
        flag = "\toverdue" if c.overdue_at else ""
        typer.echo(f"{c.number}\t{c.matter}\t{c.state.value}\t{due.isoformat() if due else ''}{flag}")


CLERK_ACTIONS = {
    a.value: a
    for a in (
        CaseAction.START,
        CaseAction.REQUEST_MATERIALS,
        CaseAction.RECEIVE_MATERIALS,
        CaseAction.COMPLETE,
        CaseAction.REFUSE,
        CaseAction.WITHDRAW,
    )
}


@case_app.command("act")
def act(
    number: str,
    action: Annotated[
        str, typer.Argument(help="start, request_materials, receive_materials, complete, refuse, withdraw")
    ],
    node: NodeOpt,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    missing: Annotated[
        list[str] | None, typer.Option("--missing", help="A missing material (repeat).")
    ] = None,
    actor: ActorOpt = "cli",
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    lang: LangOpt = None,
) -> None:
    """Move a case on; an action its state does not allow is refused (exit 1) and changes nothing."""
    if action not in CLERK_ACTIONS:
        raise typer.BadParameter(f"unknown action {action!r}; one of {', '.join(CLERK_ACTIONS)}")
    ctx = open_node_for(node, db, data_dir)
    locale = normalize_locale(lang or ctx.settings.default_locale)
    try:
        case = service.act_on_case(
            ctx,
            number=number,
            action=CLERK_ACTIONS[action],
            actor=actor,
            reason=reason,
            missing=missing or [],
        )
    except TongbanError as exc:
        raise _fail(exc, locale) from exc
    finally:
        ctx.db.dispose()
    typer.echo(f"{case.number}\t{case.state.value}")


@case_app.command("sweep")
def sweep(
    node: NodeOpt,
    every: Annotated[
        float | None, typer.Option("--every", min=0.1, help="Keep sweeping every SECONDS until interrupted.")
    ] = None,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Sweep deadlines: mark overdue cases and tasks, close expired materials waits."""
    ctx = open_node_for(node, db, data_dir)

    def report(_node: NodeContext, result: jobs.SweepResult) -> None:
        typer.echo(
            f"cases overdue: {len(result.cases_overdue)}; closed for missing materials: {len(result.cases_closed)}; "
            f"tasks overdue: {len(result.tasks_overdue)}; lost races: {result.lost_races}; "
            f"messages sent: {result.messages_sent}"
        )

    try:
        if every is None:
            report(ctx, jobs.sweep_deadlines(ctx))
            return
        stop = threading.Event()
        try:
            jobs.run_sweeps([ctx], interval_s=every, stop=stop, on_result=report)
        except KeyboardInterrupt:
            stop.set()
    finally:
        ctx.db.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")
    app.add_typer(case_app, name="case")
