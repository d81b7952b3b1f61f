"""The acceptance slip and the one-time notice: on screen and as PDF (opened with pypdfium2), carrying the
case number, the promised date and every missing material at once."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
from tests.access.helpers import add, make_env, signed_in

from tongban.access.domain import Role
from tongban.core.db import Database


def pdf_text(content: bytes) -> str:
    pdf = pdfium.PdfDocument(content)
    try:
        assert len(pdf) == 1
        page = pdf[0]
        text = page.get_textpage().get_text_range()
        return str(text)
    finally:
        pdf.close()


def test_slip_and_notice_on_screen_and_as_pdf(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.doc"))
    case = client.post(
        "/api/v1/cases",
        json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    number, due = case["number"], case["due"]
    # No notice before anything is missing.
    assert client.get(f"/api/v1/cases/{number}/notice.pdf").status_code == 409

    slip = client.get(f"/api/v1/cases/{number}/slip.pdf")
    assert slip.status_code == 200 and slip.headers["content-type"] == "application/pdf"
    assert slip.headers["content-disposition"].startswith("attachment;")
    text = pdf_text(slip.content)
    assert number in text and due in text

    page = client.get(f"/cases/{number}/slip")
    assert page.status_code == 200
    assert "受理回执" in page.text and number in page.text and due in page.text
    assert "被投靠人户籍信息" in page.text  # looked up, listed as not to be handed in

    r = client.post(
        f"/api/v1/cases/{number}/actions",
        json={"action": "request_materials", "missing": ["marriage_certificate"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200
    notice = client.get(f"/api/v1/cases/{number}/notice.pdf?lang=en")
    assert notice.status_code == 200
    text = pdf_text(notice.content)
    assert number in text and "Marriage certificate" in text
    assert r.json()["materials_due"] in text

    zh = client.get(f"/cases/{number}/notice?lang=zh_CN")
    assert "一次性告知书" in zh.text and "结婚证" in zh.text
    assert "@media print" not in zh.text  # print rules live in the stylesheet
    en = client.get(f"/cases/{number}/notice?lang=en")
    assert "One-time notice of missing materials" in en.text and "Marriage certificate" in en.text
    zh_pdf = client.get(f"/api/v1/cases/{number}/notice.pdf?lang=zh_CN")
    assert number in pdf_text(zh_pdf.content)
