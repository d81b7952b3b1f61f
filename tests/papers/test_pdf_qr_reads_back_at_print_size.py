"""A rendered PDF, rasterised like a scan of the printed page, gives a QR code a real decoder reads."""

from __future__ import annotations

from datetime import timedelta

import pypdfium2 as pdfium
import pytest
import zxingcpp
from tests.papers.conftest import T0, Issuer

from tongban.papers import domain, forms, render


@pytest.mark.parametrize(("locale", "dpi"), [("zh_CN", 150), ("en", 200)])
def test_printed_qr_decodes_and_verifies(issuer: Issuer, locale: str, dpi: int) -> None:
    paper = issuer.paper()
    pdf = render.render_pdf(paper, locale=locale, issuer_name="北京市")
    document = pdfium.PdfDocument(pdf)
    try:
        assert len(document) == 1
        image = (
            document[0].render(scale=dpi / 72).to_pil().copy()
        )  # own the pixels: the bitmap dies with the document
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    results = [r for r in zxingcpp.read_barcodes(image) if r.text.startswith(forms.QR_PREFIX)]
    assert len(results) == 1
    read = forms.from_qr_text(results[0].text)
    assert read == paper
    verdict = domain.verify_paper(read, issuer.resolver, None, T0 + timedelta(days=1))
    assert verdict.status == domain.Status.VALID
    # The page text is in the requested language, with the subject's name in CJK glyphs.
    assert ("户口迁移证" if locale == "zh_CN" else "Migration certificate") in text
    assert "测试甲" in text


def test_qr_fits_a_readable_print_size(issuer: Issuer) -> None:
    code = render.qr_code(issuer.paper())
    assert code.mode == "alphanumeric"
    assert code.version <= 22  # at 0.5 mm a module: under 6 cm wide with its border
    width_mm = code.symbol_size(scale=1, border=render.QR_BORDER)[0] * render.QR_MODULE_MM
    assert width_mm <= 60


def test_pdf_embeds_its_font(issuer: Issuer) -> None:
    pdf = render.render_pdf(issuer.paper())
    assert b"/FontFile2" in pdf  # an embedded TrueType font program
    assert forms.read_pdf_attachment(pdf) == forms.to_json_bytes(issuer.paper())


def test_qr_png_decodes(issuer: Issuer) -> None:
    paper = issuer.paper()
    assert forms.read_any(render.qr_png(paper)) == paper


def test_long_paper_flows_onto_a_second_page_and_its_qr_still_reads(issuer: Issuer) -> None:
    relatives = [{"name": f"测试亲属{i:02d}", "relation": "子女"} for i in range(20)]
    paper = issuer.paper(
        type_code="cert.kinship",
        facts={"relatives": relatives, "household_number": "110105-000123"},
        valid_for=None,
    )
    document = pdfium.PdfDocument(render.render_pdf(paper))
    try:
        assert len(document) == 2
        texts = [document[i].get_textpage().get_text_range() for i in range(2)]
        image = (
            document[1].render(scale=200 / 72).to_pil().copy()
        )  # own the pixels: the bitmap dies with the document
    finally:
        document.close()
    assert all(f"测试亲属{i:02d}" in "".join(texts) for i in range(20))
    results = [r for r in zxingcpp.read_barcodes(image) if r.text.startswith(forms.QR_PREFIX)]
    assert len(results) == 1 and forms.from_qr_text(results[0].text) == paper
