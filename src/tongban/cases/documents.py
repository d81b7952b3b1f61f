"""The window's documents: the acceptance slip (受理回执) and the one-time notice (一次性告知书).

Both are built as plain data (``SlipData``, ``NoticeData``) from the case, shown on screen by the pages
(with print CSS) and drawn as PDF here with reportlab. Chinese text uses reportlab's built-in CID font
``STSong-Light`` (Adobe-GB1, no font file embedded: PDF readers supply a Song face); the case number is
also drawn in Helvetica so it is extractable as plain ASCII text. The ``papers`` capability embeds a
TrueType CJK font for papers that must look the same everywhere; the window's documents can switch to it
once that capability is in main.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from tongban.cases.calendar import local_date
from tongban.cases.catalog import MaterialSource
from tongban.cases.service import cases_setup
from tongban.cases.window import window_record
from tongban.core.errors import Conflict
from tongban.core.i18n import N_, Translator, normalize_locale
from tongban.core.node import NodeContext

CID_FONT = "STSong-Light"


@dataclass(frozen=True)
class SlipData:
    number: str
    matter: str
    office: str
    node_name: str
    accepted_on: date
    promised: date | None
    applicant_masked: str | None
    handed_in: list[str]
    looked_up: list[str]


@dataclass(frozen=True)
class NoticeData:
    number: str
    matter: str
    office: str
    node_name: str
    issued_on: date
    missing: list[str]
    supply_by: date | None


def slip_data(node: NodeContext, *, number: str, locale: str) -> SlipData:
    case, w = window_record(node, number)
    matter = cases_setup(node).catalog.get(case.matter)
    materials = matter.materials_for(case.procedure)
    return SlipData(
        number=case.number,
        matter=matter.name.get(locale),
        office=case.accepting_office,
        node_name=node.name,
        accepted_on=case.accepted_on,
        promised=case.due,
        applicant_masked=w.applicant_masked if w else None,
        handed_in=[
            m.name.get(locale)
            for m in materials
            if m.source is MaterialSource.APPLICANT and m.key not in case.missing_materials
        ],
        looked_up=[m.name.get(locale) for m in materials if m.source is MaterialSource.REGISTRY],
    )


def notice_data(node: NodeContext, *, number: str, locale: str) -> NoticeData:
    """The one-time notice of the case's latest materials request: every missing material at once."""
    case, _ = window_record(node, number)
    requests = [e for e in case.events if e.action == "request_materials"]
    if not requests or not case.missing_materials:
        raise Conflict(N_("Case {number} has no missing materials to notify"), number=number)
    matter = cases_setup(node).catalog.get(case.matter)
    names = {m.key: m.name.get(locale) for m in matter.materials}
    return NoticeData(
        number=case.number,
        matter=matter.name.get(locale),
        office=case.accepting_office,
        node_name=node.name,
        issued_on=local_date(requests[-1].at),
        missing=[names.get(k, k) for k in case.missing_materials],
        supply_by=case.materials_due,
    )


# ---------------------------------------------------------------------------------------------- PDF
def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


class _Page:
    def __init__(self, title: str, locale: str) -> None:
        from reportlab.lib.pagesizes import A4
        from reportlab.pdfgen.canvas import Canvas

        self.buf = io.BytesIO()
        self.canvas = Canvas(self.buf, pagesize=A4, pageCompression=1)
        self.canvas.setTitle(title)
        self.width, self.height = A4
        self.font = _font() if normalize_locale(locale) == "zh_CN" else "Helvetica"
        self.y = self.height - 72
        self.canvas.setFont(_font(), 18)
        self.canvas.drawCentredString(self.width / 2, self.y, title)
        self.y -= 36

    def line(self, label: str, value: str, *, ascii_value: bool = False) -> None:
        c = self.canvas
        c.setFont(_font(), 11)
        c.drawString(72, self.y, label)
        c.setFont("Helvetica" if ascii_value else _font(), 11)
        c.drawString(200, self.y, value)
        self.y -= 20

    def text(self, value: str, *, size: int = 11, indent: int = 72) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        c = self.canvas
        c.setFont(_font(), size)
        width = self.width - indent - 72
        current = ""
        for ch in value:
            if current and stringWidth(current + ch, _font(), size) > width:
                c.drawString(indent, self.y, current)
                self.y -= size + 6
                current = ""
            current += ch
        if current:
            c.drawString(indent, self.y, current)
            self.y -= size + 6

    def done(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self.buf.getvalue()


def slip_pdf(data: SlipData, locale: str) -> bytes:
    t = Translator(normalize_locale(locale))
    page = _Page(t(N_("Acceptance slip")), locale)
    page.line(t(N_("Case number")), data.number, ascii_value=True)
    page.line(t(N_("Matter")), data.matter)
    page.line(t(N_("Accepting office")), f"{data.node_name} {data.office}")
    page.line(t(N_("Accepted on")), data.accepted_on.isoformat(), ascii_value=True)
    page.line(t(N_("Promised by")), data.promised.isoformat() if data.promised else "-", ascii_value=True)
    if data.applicant_masked:
        page.line(t(N_("Applicant ID number")), data.applicant_masked, ascii_value=True)
    page.y -= 10
    page.text(t(N_("Materials received")) + ": " + ("、".join(data.handed_in) or "-"))
    page.text(
        t(N_("Looked up from the registry (not to be handed in)")) + ": " + ("、".join(data.looked_up) or "-")
    )
    page.y -= 10
    page.text(
        t(N_("Keep this slip: the case number lets you follow your application online or at any window."))
    )
    return page.done()


def notice_pdf(data: NoticeData, locale: str) -> bytes:
    t = Translator(normalize_locale(locale))
    page = _Page(t(N_("One-time notice of missing materials")), locale)
    page.line(t(N_("Case number")), data.number, ascii_value=True)
    page.line(t(N_("Matter")), data.matter)
    page.line(t(N_("Accepting office")), f"{data.node_name} {data.office}")
    page.line(t(N_("Issued on")), data.issued_on.isoformat(), ascii_value=True)
    page.y -= 10
    page.text(t(N_("To complete your application, hand in all of the following at once:")))
    for i, name in enumerate(data.missing, 1):
        page.text(f"{i}. {name}", indent=90)
    page.y -= 10
    if data.supply_by:
        page.line(t(N_("Hand in by")), data.supply_by.isoformat(), ascii_value=True)
    page.text(
        t(
            N_(
                "The time limit is paused until the materials arrive. Nothing beyond this list will be asked for."
            )
        )
    )
    return page.done()
