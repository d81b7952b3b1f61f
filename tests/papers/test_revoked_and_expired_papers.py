"""A revoked paper shows revoked, an expired one expired; the issuer's revocation list is signed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.papers.conftest import ISSUER, T0, Issuer

from tongban.papers import domain, forms, keys


def _list(issuer: Issuer, serial: int, revoked: list[domain.RevokedPaper]) -> domain.SignedPaper:
    payload = domain.build_revocation_payload(
        issuer=ISSUER, serial=serial, issued_at=T0 + timedelta(days=1), revoked=revoked
    )
    return domain.sign_bytes(payload, issuer.signer)


def test_revoked_paper_shows_revoked_with_its_fields(issuer: Issuer) -> None:
    paper = issuer.paper()
    entry = domain.RevokedPaper("110000-QY-2026-000001", "issued-in-error", T0 + timedelta(hours=3))
    rl = domain.verify_revocation_list(_list(issuer, 1, [entry]), issuer.resolver, issuer=ISSUER)
    revocations = domain.Revocations()
    assert revocations.add(rl)
    verdict = domain.verify_paper(paper, issuer.resolver, revocations, T0 + timedelta(days=2))
    assert verdict.status == domain.Status.REVOKED
    assert verdict.reasons[0].code == "revoked"
    assert verdict.reasons[0].params["reason"] == "issued-in-error"
    assert verdict.paper is not None and verdict.paper.number == entry.number


def test_newer_serial_wins_and_older_is_ignored(issuer: Issuer) -> None:
    entry = domain.RevokedPaper("110000-QY-2026-000001", "withdrawn", T0)
    revocations = domain.Revocations()
    assert revocations.add(domain.verify_revocation_list(_list(issuer, 2, [entry]), issuer.resolver))
    assert not revocations.add(domain.verify_revocation_list(_list(issuer, 1, []), issuer.resolver))
    assert revocations.lookup(ISSUER, entry.number) == entry


def test_forged_revocation_list_is_refused(issuer: Issuer) -> None:
    signed = _list(issuer, 3, [])
    forged = domain.SignedPaper(signed.payload.replace(b'"serial":3', b'"serial":4'), signed.signature)
    with pytest.raises(domain.RevocationListRefused) as exc:
        domain.verify_revocation_list(forged, issuer.resolver)
    assert exc.value.reason == "bad-signature"
    other, _ = keys.generate_key(ISSUER, not_before=T0)
    with pytest.raises(domain.RevocationListRefused):
        domain.verify_revocation_list(domain.sign_bytes(signed.payload, other), issuer.resolver)
    with pytest.raises(domain.RevocationListRefused) as exc:
        domain.verify_revocation_list(signed, issuer.resolver, issuer="440000")
    assert exc.value.reason == "wrong-issuer"
    round_trip = forms.revocations_from_json_bytes(forms.revocations_to_json_bytes(signed))
    assert domain.verify_revocation_list(round_trip, issuer.resolver).serial == 3


def test_expired_paper_shows_expired(issuer: Issuer) -> None:
    paper = issuer.paper(valid_for=timedelta(days=30))
    revocations = domain.Revocations()
    revocations.add(domain.verify_revocation_list(_list(issuer, 0, []), issuer.resolver))
    assert (
        domain.verify_paper(paper, issuer.resolver, revocations, T0 + timedelta(days=29)).status
        == domain.Status.VALID
    )
    verdict = domain.verify_paper(paper, issuer.resolver, revocations, T0 + timedelta(days=31))
    assert verdict.status == domain.Status.EXPIRED
    assert [r.code for r in verdict.reasons] == ["expired"]


def test_valid_without_a_revocation_list_says_so(issuer: Issuer) -> None:
    verdict = domain.verify_paper(issuer.paper(), issuer.resolver, None, T0 + timedelta(days=1))
    assert verdict.status == domain.Status.VALID
    assert "revocations-unknown" in [r.code for r in verdict.reasons]


def test_migration_certificate_longer_than_30_days_is_invalid(issuer: Issuer) -> None:
    verdict = domain.verify_paper(issuer.paper(valid_for=timedelta(days=31)), issuer.resolver, None, T0)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "validity-too-long"


def test_paper_from_the_future_is_invalid(issuer: Issuer) -> None:
    verdict = domain.verify_paper(issuer.paper(issued_at=T0 + timedelta(hours=1)), issuer.resolver, None, T0)
    assert verdict.status == domain.Status.INVALID
    assert verdict.reasons[0].code == "issued-in-future"
