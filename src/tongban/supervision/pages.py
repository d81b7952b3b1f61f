"""The supervisor's dashboard: volumes, open work by state, on-time rate, overdue cases and tasks, by matter,
accepting office and cross-province mode, drawn as inline SVG charts with their figures as tables.

The figures stay within the viewer's reach for ``supervision.report.read``: an office head sees their office,
a county supervisor their county, a provincial administrator their province, a national supervisor everything
the node holds. Switching the period (7, 30 or 90 days) is a plain link; with htmx it replaces the dashboard
only (``HX-Request``), and the address follows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tongban.access.domain import Allow, Principal, Scope, decide
from tongban.access.web import CurrentUser, scope_filter
from tongban.cases import service as cases_service
from tongban.cases.calendar import CHINA_TZ, DayUnit
from tongban.cases.domain import CaseState, CloseReason
from tongban.cases.window import CLOSE_LABELS, STATE_LABELS
from tongban.core.errors import TongbanError
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.routing import requires
from tongban.supervision import charts, service
from tongban.supervision.queries import DEFAULT_PERIOD, MODE_LABELS, PERIODS, Reach
from tongban.web.app import CurrentNode, CurrentTranslator, render

router = APIRouter(prefix="/supervision")

REPORT_READ = "supervision.report.read"
STATE_COLOURS = {
    CaseState.ACCEPTED.value: "#5b8def",
    CaseState.IN_PROGRESS.value: "#2e9d5b",
    CaseState.AWAITING_MATERIALS.value: "#d98e04",
}
SCOPE_TEXTS = {
    Scope.OFFICE: N_("your office {office}"),
    Scope.COUNTY: N_("your county {division}"),
    Scope.PREFECTURE: N_("your prefecture {division}"),
    Scope.PROVINCE: N_("your province {division}"),
    Scope.NATION: N_("every office of this node"),
}


def nav_entries(request: Request, t: Translator) -> list[dict[str, str]]:
    """The layout's link to the dashboard, for staff who may read the supervision reports."""
    user = getattr(request.state, "user", None)
    if not isinstance(user, Principal) or not user.is_staff:
        return []
    if not isinstance(decide(user, REPORT_READ), Allow):
        return []
    return [{"href": "/supervision", "label": t(N_("Supervision"))}]


class Formats:
    """Numbers and dates in the viewer's language (Babel's CLDR data)."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def num(self, n: int | float) -> str:
        return str(format_decimal(n, locale=self.locale))

    def pct(self, rate: float | None) -> str:
        return "–" if rate is None else str(format_percent(rate, "#,##0.0%", locale=self.locale))

    def day(self, d: date) -> str:
        return str(format_date(d, "MMMd", locale=self.locale))

    def long_day(self, d: date | None) -> str:
        return "" if d is None else str(format_date(d, "medium", locale=self.locale))

    def moment(self, at: Any) -> str:
        return "" if at is None else str(format_datetime(at, "medium", tzinfo=CHINA_TZ, locale=self.locale))


def dashboard_context(
    node: NodeContext, user: Principal, t: Translator, period: int, reach: Reach
) -> dict[str, Any]:
    setup = cases_service.cases_setup(node)
    f = service.figures_for(node, reach, period)
    fmt = Formats(t.locale)

    def matter_name(code: str) -> str:
        try:
            return setup.catalog.get(code).name.get(t.locale)
        except TongbanError:
            return code

    weekly = period > 30
    points = (
        [(fmt.day(d), n) for d, n in f.accepted_per_week()]
        if weekly
        else [(fmt.day(d), n) for d, n in f.accepted_per_day]
    )
    open_states = [s for s in STATE_COLOURS]
    matters_open = [g for g in f.by_matter if g.open]
    by_mode = f.by_mode(setup.catalog)
    return {
        "f": f,
        "fmt": fmt,
        "period": period,
        "periods": PERIODS,
        "weekly": weekly,
        "volume_points": points,
        "volume_chart": charts.column_chart(points),
        "open_states": open_states,
        "state_colours": STATE_COLOURS,
        "state_labels": {s.value: label for s, label in STATE_LABELS.items()},
        "close_labels": {r.value: label for r, label in CLOSE_LABELS.items()},
        "close_reasons": [r.value for r in CloseReason],
        "state_chart": charts.bar_rows(
            [(matter_name(g.key), [(st, g.by_state.get(st, 0)) for st in open_states]) for g in matters_open]
        ),
        "matters_open": matters_open,
        "gauge": charts.gauge(f.on_time_rate),
        "overdue_matter_chart": charts.bar_rows(
            [(matter_name(g.key), [("overdue", g.overdue)]) for g in f.by_matter if g.overdue]
        ),
        "overdue_office_chart": charts.bar_rows(
            [(g.key, [("overdue", g.overdue)]) for g in f.by_office if g.overdue]
        ),
        "mode_chart": charts.bar_rows([(t(MODE_LABELS[g.key]), [("accepted", g.accepted)]) for g in by_mode]),
        "by_mode": by_mode,
        "mode_labels": MODE_LABELS,
        "matter_name": matter_name,
        "unit_text": lambda unit: (
            t(N_("working days")) if unit is DayUnit.WORKING_DAYS else t(N_("calendar days"))
        ),
        "node_code": node.code,
    }


def _period(raw: str | None) -> int:
    try:
        value = int(raw or DEFAULT_PERIOD)
    except ValueError:
        return DEFAULT_PERIOD
    return value if value in PERIODS else DEFAULT_PERIOD


@router.get("", response_class=HTMLResponse, dependencies=[requires(REPORT_READ)])
def dashboard_page(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    period: str | None = None,
) -> HTMLResponse:
    scope, prefix = scope_filter(request, REPORT_READ)
    reach = service.reach_of(user, scope, prefix, node)
    chosen = _period(period)
    ctx = dashboard_context(node, user, t, chosen, reach)
    where = t(SCOPE_TEXTS[scope], office=user.office_code or "", division=user.division_code or "")
    partial = request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "dashboard"
    template = "supervision/_dashboard.html" if partial else "supervision/dashboard.html"
    return render(request, template, where=where, **ctx)
