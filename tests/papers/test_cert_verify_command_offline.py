"""``tongban cert verify`` works offline on the JSON form, a QR image and the PDF; exit codes tell the verdict."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.papers.conftest import ISSUER, T0, Issuer
from typer.testing import CliRunner

from tongban.cli import app
from tongban.papers import domain, forms, render

runner = CliRunner()
AT = (T0 + timedelta(days=1)).isoformat()


def _files(tmp_path: Path, issuer: Issuer) -> dict[str, Path]:
    paper = issuer.paper()
    out = {
        "json": tmp_path / "paper.json",
        "png": tmp_path / "qr.png",
        "pdf": tmp_path / "paper.pdf",
        "txt": tmp_path / "qr.txt",
        "keys": tmp_path / "keys.json",
    }
    out["json"].write_bytes(forms.to_json_bytes(paper))
    out["png"].write_bytes(render.qr_png(paper))
    out["pdf"].write_bytes(render.render_pdf(paper, locale="en"))
    out["txt"].write_text(forms.to_qr_text(paper))
    out["keys"].write_bytes(issuer.resolver.to_bytes())
    return out


def test_each_form_verifies_offline(tmp_path: Path, issuer: Issuer) -> None:
    files = _files(tmp_path, issuer)
    for kind in ("json", "png", "pdf", "txt"):
        result = runner.invoke(
            app, ["cert", "verify", str(files[kind]), "--directory", str(files["keys"]), "--at", AT, "--json"]
        )
        assert result.exit_code == 0, (kind, result.output)
        verdict = json.loads(result.output)
        assert verdict["status"] == "valid" and verdict["paper"]["number"] == "110000-QY-2026-000001"
    text = runner.invoke(
        app,
        ["cert", "verify", str(files["pdf"]), "--directory", str(files["keys"]), "--at", AT, "--lang", "en"],
    )
    assert text.exit_code == 0 and "Valid" in text.output and "Migration certificate" in text.output


def test_revoked_expired_and_tampered_exit_codes(tmp_path: Path, issuer: Issuer) -> None:
    files = _files(tmp_path, issuer)
    keys_opt = ["--directory", str(files["keys"])]
    later = (T0 + timedelta(days=40)).isoformat()
    assert runner.invoke(app, ["cert", "verify", str(files["json"]), *keys_opt, "--at", later]).exit_code == 2

    payload = domain.build_revocation_payload(
        issuer=ISSUER,
        serial=1,
        issued_at=T0 + timedelta(hours=1),
        revoked=[domain.RevokedPaper("110000-QY-2026-000001", "withdrawn", T0 + timedelta(hours=1))],
    )
    rl = tmp_path / "revocations.json"
    rl.write_bytes(forms.revocations_to_json_bytes(domain.sign_bytes(payload, issuer.signer)))
    revoked = runner.invoke(
        app, ["cert", "verify", str(files["json"]), *keys_opt, "--revocations", str(rl), "--at", AT, "--json"]
    )
    assert revoked.exit_code == 3 and json.loads(revoked.output)["status"] == "revoked"

    forged = tmp_path / "forged.txt"
    text = files["txt"].read_text()
    forged.write_text(text[:-1] + ("0" if text[-1] != "0" else "1"))
    result = runner.invoke(app, ["cert", "verify", str(forged), *keys_opt, "--at", AT, "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "invalid"
