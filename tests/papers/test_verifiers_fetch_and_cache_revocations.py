"""Verifiers fetch an issuer's signed revocation list, cache the newest, and refuse forged or older ones."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.papers.conftest import SUBJECT, Web, migration_facts

from tongban.papers import domain, forms
from tongban.papers.keys import StaticKeyResolver
from tongban.papers.verify import RevocationCache


def test_fetch_keeps_the_newest_and_refuses_forgeries(web: Web) -> None:
    reviewer, headers = web.user("reviewer", "rv1")
    head, head_headers = web.user("office_head", "oh1")
    body = {
        "type": "mig.certificate",
        "subject": SUBJECT,
        "facts": migration_facts(),
        "purpose": "迁入广东省",
        "division_code": "110105",
    }
    first = reviewer.post("/api/v1/papers", json=body, headers=headers).json()["number"]
    resolver = StaticKeyResolver.from_file(web.tmp_path / "paper-keys" / "paper-keys.json")
    cache = RevocationCache(web.tmp_path / "verifier")
    visitor = TestClient(web.env.app)  # the list is public: no account, no cookie
    assert cache.fetch("http://testserver", "110000", resolver, client=visitor).serial == 0
    old_list = (web.tmp_path / "verifier" / "110000.json").read_bytes()

    head.post(f"/api/v1/papers/{first}/revoke", json={"reason": "fraud"}, headers=head_headers)
    held = cache.fetch("http://testserver", "110000", resolver, client=visitor)
    assert held.serial == 1 and held.revoked[first].reason == "fraud"

    # An older list offered later does not replace the newer one.
    assert cache.accept(old_list, resolver, issuer="110000").serial == 1
    # A forged list (one changed character in its payload) is refused and the cache is untouched.
    form = forms.revocations_from_json_bytes((web.tmp_path / "verifier" / "110000.json").read_bytes())
    forged = domain.SignedPaper(form.payload.replace(b'"fraud"', b'"fraue"'), form.signature)
    with pytest.raises(domain.RevocationListRefused):
        cache.accept(forms.revocations_to_json_bytes(forged), resolver, issuer="110000")
    with pytest.raises(domain.RevocationListRefused):
        cache.accept(old_list, resolver, issuer="440000")  # a list must be its claimed issuer's
    assert cache.load(resolver).lookup("110000", first) is not None
