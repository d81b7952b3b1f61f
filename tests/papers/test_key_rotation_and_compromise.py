"""A paper signed within its key's validity stays valid after rotation; a compromised key's papers fail."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.papers.conftest import ISSUER, T0, Issuer

from tongban.papers import domain, keys

LATER = T0 + timedelta(days=10)


def _rotate(issuer: Issuer) -> keys.Ed25519Signer:
    """A new key from T0 + 1 day; the old key stops at the same time (ordinary rotation)."""
    switch = T0 + timedelta(days=1)
    new_signer, new_key = keys.generate_key(ISSUER, not_before=switch)
    issuer.resolver.add(new_key)
    issuer.resolver.add(replace(issuer.key, not_after=switch))
    return new_signer


def test_paper_of_a_rotated_key_still_verifies(issuer: Issuer) -> None:
    old_paper = issuer.paper(issued_at=T0)
    new_signer = _rotate(issuer)
    new_paper = issuer.paper(
        number="110000-QY-2026-000002", issued_at=T0 + timedelta(days=2), signer=new_signer
    )
    assert domain.verify_paper(old_paper, issuer.resolver, None, LATER).status == domain.Status.VALID
    assert domain.verify_paper(new_paper, issuer.resolver, None, LATER).status == domain.Status.VALID


def test_superseded_key_keeps_earlier_papers_but_not_later_ones(issuer: Issuer) -> None:
    before = issuer.paper(issued_at=T0)
    after = issuer.paper(number="110000-QY-2026-000009", issued_at=T0 + timedelta(days=3))
    issuer.resolver.revoke(ISSUER, issuer.key.key_id, at=T0 + timedelta(days=2), reason="superseded")
    assert domain.verify_paper(before, issuer.resolver, None, LATER).status == domain.Status.VALID
    verdict = domain.verify_paper(after, issuer.resolver, None, LATER)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "key-revoked"


def test_paper_of_a_compromised_key_fails(issuer: Issuer) -> None:
    paper = issuer.paper(issued_at=T0)
    assert domain.verify_paper(paper, issuer.resolver, None, LATER).status == domain.Status.VALID
    issuer.resolver.revoke(ISSUER, issuer.key.key_id, at=T0 + timedelta(days=5), reason=domain.COMPROMISE)
    verdict = domain.verify_paper(paper, issuer.resolver, None, LATER)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "key-compromised"
    assert verdict.paper is None


def test_signature_outside_key_validity_fails(issuer: Issuer) -> None:
    early = issuer.paper(issued_at=issuer.key.not_before - timedelta(days=1))
    verdict = domain.verify_paper(early, issuer.resolver, None, LATER)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "key-not-valid"


def test_unknown_key_or_issuer_fails(issuer: Issuer) -> None:
    other_signer, _ = keys.generate_key(ISSUER, not_before=T0)
    verdict = domain.verify_paper(issuer.paper(signer=other_signer), issuer.resolver, None, LATER)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "unknown-key"


def test_same_key_id_with_another_key_fails(issuer: Issuer) -> None:
    impostor, _ = keys.generate_key(ISSUER, not_before=T0, key_id=issuer.key.key_id)
    verdict = domain.verify_paper(issuer.paper(signer=impostor), issuer.resolver, None, LATER)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "bad-signature"
