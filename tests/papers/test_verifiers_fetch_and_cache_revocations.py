"""Verifiers fetch an issuer's signed revocation list, cache the newest, and refuse forged or older ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, migration_facts

from tongban.core.node import NodeEntry, write_manifest
from tongban.papers import domain, forms
from tongban.papers.keys import StaticKeyResolver
from tongban.papers.verify import RevocationCache
from tongban.web.app import create_app
from tongban.web.runtime import build_runtime

NODE = {"x-tongban-node": "110000"}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    write_manifest(tmp_path / "issuer", [NodeEntry("110000", "北京市")])
    return TestClient(create_app(build_runtime(test_settings(tmp_path / "issuer"))))


def _issue(client: TestClient) -> str:
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
    }
    return str(client.post("/api/v1/papers", json=body, headers=NODE).json()["number"])


def test_fetch_keeps_the_newest_and_refuses_forgeries(client: TestClient, tmp_path: Path) -> None:
    resolver = StaticKeyResolver.from_file(tmp_path / "issuer" / "paper-keys" / "paper-keys.json")
    cache = RevocationCache(tmp_path / "verifier")
    first = _issue(client)
    assert cache.fetch("http://testserver", "110000", resolver, client=client).serial == 0
    old_list = (tmp_path / "verifier" / "110000.json").read_bytes()

    client.post(f"/api/v1/papers/{first}/revoke", json={"reason": "fraud"}, headers=NODE)
    held = cache.fetch("http://testserver", "110000", resolver, client=client)
    assert held.serial == 1 and held.revoked[first].reason == "fraud"

    # An older list offered later does not replace the newer one.
    assert cache.accept(old_list, resolver, issuer="110000").serial == 1
    # A forged list (one changed character in its payload) is refused and the cache is untouched.
    form = forms.revocations_from_json_bytes((tmp_path / "verifier" / "110000.json").read_bytes())
    forged = domain.SignedPaper(form.payload.replace(b'"fraud"', b'"fraue"'), form.signature)
    with pytest.raises(domain.RevocationListRefused):
        cache.accept(forms.revocations_to_json_bytes(forged), resolver, issuer="110000")
    with pytest.raises(domain.RevocationListRefused):
        cache.accept(old_list, resolver, issuer="440000")  # a list must be its claimed issuer's
    revocations = cache.load(resolver)
    assert revocations.lookup("110000", first) is not None
