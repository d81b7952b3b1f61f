"""The public /verify page in a real browser: paste the QR text, upload the PDF, see valid/revoked/invalid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, screenshot
from tests.papers.conftest import SUBJECT, migration_facts
from tongban.core.node import NodeEntry, open_node, write_manifest
from tongban.core.settings import Settings
from tongban.papers import forms, render, service
from tongban.papers.keys import FileKeyStore

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    write_manifest(tmp_path, [NodeEntry("110000", "北京市")])
    srv = LiveServer(tmp_path)
    yield srv
    srv.stop()


def _issue(data_dir: Path, *, revoke: bool = False) -> service.IssuedPaper:
    node = open_node(NodeEntry("110000", "北京市"), Settings(data_dir=data_dir))
    node.services[service.KEYS_SERVICE] = FileKeyStore(data_dir / "paper-keys")
    try:
        with node.db.transaction() as s:
            paper = service.issue_paper(
                s,
                node=node,
                division_code="110105",
                actor="user:e2e",
                type="mig.certificate",
                subject=SUBJECT,
                facts=migration_facts(),
                valid_until=None,
                purpose="迁入广东省深圳市",
            )
            if revoke:
                service.revoke_paper(s, node=node, actor="user:e2e", number=paper.number, reason="withdrawn")
        return paper
    finally:
        node.db.dispose()


def test_paste_upload_and_tamper(server: LiveServer, page: Page, tmp_path: Path) -> None:
    paper = _issue(server.data_dir)
    page.goto(server.url + "/verify")
    expect(page.get_by_role("heading", level=1)).to_have_text("核验电子证照")
    expect(page.locator("#photo-label")).to_be_visible()

    page.fill("#paper-text", forms.to_qr_text(paper.signed))
    page.get_by_role("button", name="核验", exact=True).click()
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-status", "valid")
    expect(verdict.get_by_role("heading")).to_contain_text("有效")
    expect(verdict).to_contain_text(SUBJECT["name"])
    expect(verdict).to_contain_text(paper.number)
    screenshot(page, "papers-verify-valid")

    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(render.render_pdf(paper.signed))
    page.set_input_files("#paper-file", str(pdf))
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("#verdict")).to_have_attribute("data-status", "valid")

    text = forms.to_qr_text(paper.signed)
    page.fill("#paper-text", text[:-2] + ("00" if text[-2:] != "00" else "11"))
    page.get_by_role("button", name="核验", exact=True).click()
    expect(page.locator("#verdict")).to_have_attribute("data-status", "invalid")
    expect(page.locator("#verdict")).not_to_contain_text(SUBJECT["name"])
    screenshot(page, "papers-verify-invalid")


def test_revoked_paper_in_english(server: LiveServer, page: Page) -> None:
    paper = _issue(server.data_dir, revoke=True)
    page.goto(server.url + "/verify?lang=en")
    page.fill("#paper-text", forms.to_json_bytes(paper.signed).decode())
    page.get_by_role("button", name="Verify", exact=True).click()
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-status", "revoked")
    expect(verdict).to_contain_text("withdrawn")
    screenshot(page, "papers-verify-revoked-en")
