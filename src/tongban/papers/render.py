"""Renderings of a signed paper: QR code images and a PDF in Chinese (or English), made on download.

The PDF embeds a TrueType CJK font (WenQuanYi Micro Hei, Apache-2.0, Debian ``fonts-wqy-microhei``) so it shows
the same everywhere; Noto CJK in Debian is CFF-based, which reportlab cannot embed. The QR code is drawn as
vector squares at ``QR_MODULE_MM`` per module. The JSON form is attached as ``paper.json``: the PDF is a
rendering, what is verified is the signed payload in the attachment or the QR code.
"""

from __future__ import annotations

import io
import os
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno

from tongban.core.i18n import N_, gettext, normalize_locale
from tongban.papers.domain import PaperView, SignedPaper, read_payload
from tongban.papers.forms import ATTACHMENT_NAME, to_json_bytes, to_qr_text
from tongban.papers.types import find_type

QR_ERROR = "m"  # 15% recovery: survives a crease or a stain on paper
QR_MODULE_MM = 0.5  # printed size of one module; a version-21 code is then about 55 mm wide with its border
QR_BORDER = 4
FONT_NAME = "WenQuanYiMicroHei"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
CHINA_TIME = timezone(timedelta(hours=8), "UTC+8")


class FontMissing(RuntimeError):
    pass


def qr_code(paper: SignedPaper) -> segno.QRCode:
    return segno.make(to_qr_text(paper), error=QR_ERROR, mode="alphanumeric", boost_error=False)


def qr_png(paper: SignedPaper, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    qr_code(paper).save(out, kind="png", scale=scale, border=QR_BORDER)
    return out.getvalue()


def qr_svg(paper: SignedPaper, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    qr_code(paper).save(out, kind="svg", scale=scale, border=QR_BORDER, xmldecl=False)
    return out.getvalue()


def font_path() -> Path:
    configured = os.environ.get("TONGBAN_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if Path(candidate).exists():
            return Path(candidate)
    raise FontMissing(
        "no TrueType CJK font found: install Debian's fonts-wqy-microhei (scripts/ensure-browser.sh does)"
    )


@lru_cache(maxsize=1)
def _register_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = font_path()
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
    return FONT_NAME


# Labels of the fields papers show (facts of every type, subject and header).
LABELS: dict[str, str] = {
    "name": N_("Name"),
    "id_number": N_("Citizen ID number"),
    "number": N_("Paper number"),
    "issuer": N_("Issued by"),
    "issued_at": N_("Issued at"),
    "valid_until": N_("Valid until"),
    "purpose": N_("Purpose"),
    "reissue_of": N_("Replaces paper"),
    "relatives": N_("Relatives"),
    "relation": N_("Relation"),
    "household_number": N_("Household number"),
    "reason": N_("Reason"),
    "cancelled_on": N_("Cancelled on"),
    "former_division": N_("Former division code"),
    "former_address": N_("Former address"),
    "item": N_("Item"),
    "old_value": N_("Before"),
    "new_value": N_("After"),
    "changed_on": N_("Changed on"),
    "matter": N_("Matter"),
    "case_ref": N_("Case reference"),
    "permit_number": N_("Move-in permit number"),
    "moved_out_on": N_("Moved out on"),
    "origin_division": N_("Origin division code"),
    "origin_address": N_("Origin address"),
    "destination_division": N_("Destination division code"),
    "destination_address": N_("Destination address"),
}


def label(field: str, locale: str) -> str:
    msgid = LABELS.get(field)
    return gettext(locale, msgid) if msgid else field


def show_time(value: datetime | None, locale: str) -> str:
    if value is None:
        return gettext(locale, N_("no limit"))
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") + " (UTC+8)"


def show_value(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(show_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{show_value(v)}" for _k, v in value.items())
    return "" if value is None else str(value)


def paper_rows(view: PaperView, locale: str, issuer_name: str | None = None) -> list[tuple[str, str]]:
    """The paper's fields as (label, text) rows, in order, for the PDF and the verification page."""
    issuer = f"{issuer_name} ({view.issuer})" if issuer_name else view.issuer
    rows = [
        (label("number", locale), view.number),
        (label("issuer", locale), issuer),
        (label("name", locale), str(view.subject.get("name", ""))),
        (label("id_number", locale), str(view.subject.get("id_number", ""))),
    ]
    for key, value in view.subject.items():
        if key not in {"name", "id_number"}:
            rows.append((label(key, locale), show_value(value)))
    known = find_type(view.type)
    order = list(known.facts.model_fields) if known is not None else []
    facts = sorted(
        view.facts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0])
    )
    for key, value in facts:
        if key == "relatives" and isinstance(value, list):
            for rel in value:
                if isinstance(rel, dict):
                    rows.append(
                        (label("relatives", locale), f"{rel.get('name', '')} ({rel.get('relation', '')})")
                    )
            continue
        rows.append((label(key, locale), show_value(value)))
    rows += [
        (label("purpose", locale), view.purpose),
        (label("issued_at", locale), show_time(view.issued_at, locale)),
        (label("valid_until", locale), show_time(view.valid_until, locale)),
    ]
    if view.reissue_of:
        rows.append((label("reissue_of", locale), view.reissue_of))
    return rows


_CJK = "\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
# Words of Latin text stay whole; CJK characters and punctuation may break anywhere.
_TOKENS = re.compile(f"\\s+|[{_CJK}]|[^\\s{_CJK}]+")


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    current = ""
    for token in _TOKENS.findall(text):
        if current and stringWidth(current + token, font, size) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current += token
        while stringWidth(current, font, size) > width:  # a word wider than the line: cut it
            cut = len(current) - 1
            while cut > 1 and stringWidth(current[:cut], font, size) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    lines.append(current.rstrip())
    return lines


def render_pdf(paper: SignedPaper, *, locale: str = "zh_CN", issuer_name: str | None = None) -> bytes:
    """An A4 PDF of the paper with its QR code, the font embedded and ``paper.json`` attached."""
    from pypdf import PdfReader, PdfWriter
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    locale = normalize_locale(locale)
    view = read_payload(paper.payload)
    font = _register_font()
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True)
    canvas.setTitle(f"{view.type_name(locale)} {view.number}")
    canvas.setAuthor(view.issuer)
    width, height = A4
    left, right = 22 * mm, width - 22 * mm

    canvas.setFont(font, 20)
    canvas.drawCentredString(width / 2, height - 30 * mm, view.type_name(locale))
    canvas.setFont(font, 9)
    canvas.drawCentredString(
        width / 2, height - 37 * mm, gettext(locale, N_("Electronic paper, signed by its issuer"))
    )

    # The QR code goes bottom right on the last page; rows never run into its band on any page.
    qr = qr_code(paper)
    module = QR_MODULE_MM * mm
    size = (qr.symbol_size(scale=1, border=QR_BORDER)[0]) * module
    x0, y0 = right - size, 28 * mm
    floor = y0 + size + 8 * mm

    y = height - 52 * mm
    label_w = 45 * mm
    for name, text in paper_rows(view, locale, issuer_name):
        lines = _wrap(text, font, 11, right - left - label_w)
        if y - (len(lines) - 1) * 6.5 * mm < floor:
            canvas.showPage()
            canvas.setFont(font, 9)
            canvas.drawString(left, height - 20 * mm, f"{view.type_name(locale)} {view.number}")
            y = height - 32 * mm
        canvas.setFont(font, 10)
        canvas.drawString(left, y, name)
        canvas.setFont(font, 11)
        for line in lines:
            canvas.drawString(left + label_w, y, line)
            y -= 6.5 * mm
        y -= 1.5 * mm

    canvas.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(qr.matrix_iter(scale=1, border=QR_BORDER)):
        run_start = None
        cells = list(row)
        for c, dark in enumerate([*cells, False]):
            if dark and run_start is None:
                run_start = c
            elif not dark and run_start is not None:
                canvas.rect(
                    x0 + run_start * module,
                    y0 + size - (r + 1) * module,
                    (c - run_start) * module,
                    module,
                    stroke=0,
                    fill=1,
                )
                run_start = None
    canvas.setFont(font, 8)
    note = gettext(
        locale,
        N_(
            "This PDF is a rendering. What is verified is the signed paper in the QR code and in the attached "
            "file paper.json: verify it at /verify on any tongban node, or offline with: "
            "tongban cert verify FILE --directory FILE"
        ),
    )
    for i, line in enumerate(_wrap(note, font, 8, right - left - size - 8 * mm)):
        canvas.drawString(left, y0 + size - 10 * mm - i * 4.5 * mm, line)
    canvas.showPage()
    canvas.save()

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buf.getvalue())))
    writer.add_attachment(ATTACHMENT_NAME, to_json_bytes(paper))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
