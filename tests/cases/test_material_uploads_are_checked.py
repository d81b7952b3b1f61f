"""Uploads: the type comes from the bytes (PDF, JPEG, PNG), not the name; the size is capped; a refused upload
leaves nothing stored (no file, no row); an accepted one is kept under a random name outside the web root and
served only as an attachment by a route with a rule. Materials a registry holds are never uploaded."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.access.helpers import Env, add, make_env, signed_in

from tongban.access.domain import Role
from tongban.cases.materials import materials_dir, sniff
from tongban.cases.tables import MaterialRow
from tongban.core.db import Database

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def stored(env: Env) -> tuple[int, list[Path]]:
    with env.db.session() as s:
        rows = int(s.scalar(select(func.count()).select_from(MaterialRow)) or 0)
    d = materials_dir(env.node)
    return rows, sorted(d.iterdir()) if d.exists() else []


def setup_case(env: Env) -> tuple[TestClient, str, str]:
    client, csrf = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.u"))
    r = client.post(
        "/api/v1/cases",
        json={"matter": "MIG-SPOUSE", "id_number": "11010519491231002X"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201
    return client, csrf, r.json()["number"]


def test_sniffing_reads_the_bytes_not_the_name() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(PNG) == "image/png"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(b"MZ\x90\x00 an exe called scan.pdf") is None
    assert sniff(b"<html><script>") is None
    assert sniff(b"") is None


def test_upload_accepted_and_served_as_attachment(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    client, csrf, number = setup_case(env)
    r = client.post(
        f"/api/v1/cases/{number}/materials",
        data={"material": "marriage_certificate"},
        files={"file": ("photo.exe", io.BytesIO(PNG), "application/octet-stream")},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "image/png"
    rows, files = stored(env)
    assert rows == 1 and len(files) == 1
    assert files[0].name != "photo.exe" and "." not in files[0].name  # a random name, no extension
    assert not files[0].stat().st_mode & 0o111  # never executable
    assert tmp_path.resolve() in files[0].resolve().parents and "static" not in str(files[0])
    got = client.get(f"/api/v1/cases/{number}/materials/{r.json()['id']}")
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    # Another office's clerk cannot fetch it.
    other, _ = signed_in(env, add(env, Role.WINDOW_CLERK, "clerk.v", office="OFF-Z"))
    assert other.get(f"/api/v1/cases/{number}/materials/{r.json()['id']}").status_code == 404


def test_refused_uploads_store_nothing(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    env.node.settings.max_upload_bytes = 1024
    client, csrf, number = setup_case(env)

    def upload(material: str, content: bytes, name: str = "scan.pdf") -> httpx.Response:
        return client.post(
            f"/api/v1/cases/{number}/materials",
            data={"material": material},
            files={"file": (name, io.BytesIO(content), "application/pdf")},
            headers={"X-CSRF-Token": csrf},
        )

    too_big = upload("marriage_certificate", PDF + b"0" * 2048)
    assert too_big.status_code == 413
    assert too_big.headers["content-type"].startswith("application/problem+json")
    assert "1024" in too_big.json()["detail"]
    wrong = upload("marriage_certificate", b"MZ\x90\x00" + b"\x00" * 100)  # an executable named .pdf
    assert wrong.status_code == 422
    assert "PDF" in wrong.json()["detail"]
    held = upload("sponsor_hukou_record", PDF)  # the registry holds it: looked up, never uploaded
    assert held.status_code == 422
    unknown = upload("no_such_material", PDF)
    assert unknown.status_code == 422
    assert stored(env) == (0, [])
