"""The fast readers (pydantic-core's JSON parser with a duplicate count; the JSON form read without a parser)
give exactly what the strict ones give, and refuse what they refuse: duplicate keys at any depth, NaN, anything
but the bytes as issued."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.papers.conftest import ISSUER, T0, Issuer

from tongban.papers import domain, forms
from tongban.papers.canonical import (
    CanonicalError,
    b64url,
    canonical_json,
    parse_json,
    parse_json_strict,
    unb64url,
)

AT = T0 + timedelta(days=1)

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=14,
)


def outcome(parse: object, data: bytes) -> object:
    try:
        return ("ok", parse(data))  # type: ignore[operator]
    except CanonicalError:
        return ("refused",)


def same(a: object, b: object) -> bool:
    # NaN never equals itself; compare through repr, which also tells 1 from True and 0.0 from 0.
    return repr(a) == repr(b)


@given(JSONISH)
@settings(max_examples=300)
def test_parse_json_agrees_with_the_strict_parser(value: object) -> None:
    data = json.dumps(value, ensure_ascii=False).encode()
    assert same(outcome(parse_json, data), outcome(parse_json_strict, data))


@given(st.binary(max_size=80), st.text(max_size=40))
@example(b"", '{"a":1,"a":2}')
@example(b"", '{"a":{"b":1,"b":1}}')
@example(b"", '[{"x":"1"},{"y":[{"z":null,"z":null}]}]')
@example(b"", '{"a":"x","b":{"c":"d"},"a":"x"}')
@example(b"", '{"a":NaN}')
@example(b"", '{"a":Infinity}')
@example(b"", '{"a":1e400}')
@example(b"", '{"a":' + "9" * 5000 + "}")
@example(b"", '{"a":"\\u0022","a":1}')
@example(b"", '{"a":":","b":"\\""}')
@example(b"\xef\xbb\xbf", '{"a":1}')
@example(b'{"a":"\xff"}', "")
@example(b'{"a":"\x01"}', "")
@settings(max_examples=300)
def test_parse_json_agrees_on_any_bytes(raw: bytes, text: str) -> None:
    data = raw + text.encode()
    assert same(outcome(parse_json, data), outcome(parse_json_strict, data))


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":2}',
        b'{"a":"1","a":"1"}',
        b'{"x":{"b":[],"b":[]}}',
        b'{"x":[1,{"c":"d","c":"e"}]}',
        b'{"a":1 , "a" :2}',
        b'{"a":NaN}',
    ],
)
def test_duplicates_and_constants_are_refused(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_json(data)


def _sign(issuer: Issuer, payload: bytes) -> domain.SignedPaper:
    return domain.sign_bytes(payload, issuer.signer)


def test_a_signed_payload_with_a_duplicate_key_is_invalid(issuer: Issuer) -> None:
    payload = issuer.paper().payload
    # The issuer's own key signs a payload that names a second subject in the same object: never read.
    for twice in (
        payload.replace(b'"subject":{', b'"subject":{"name":"\xe6\xb5\x8b\xe8\xaf\x95\xe4\xb9\x99",'),
        payload.replace(b'"type":', b'"number":"110000-QY-2026-999999","type":'),
    ):
        assert twice != payload
        for form in (
            forms.to_json_bytes(_sign(issuer, twice)),
            forms.to_qr_text(_sign(issuer, twice)).encode(),
        ):
            signed = forms.read_any(form)
            verdict = domain.verify_paper(signed, issuer.resolver, None, AT)
            assert verdict.status == domain.Status.INVALID
            assert verdict.reasons[0].code == "malformed"
            assert verdict.paper is None


def _strict_form(data: bytes) -> domain.SignedPaper:
    raw = parse_json_strict(data)
    sig = raw["signature"]
    return domain.SignedPaper(
        unb64url(raw["payload"]), domain.SignatureBlock(sig["alg"], sig["key_id"], unb64url(sig["value"]))
    )


def test_the_json_form_as_written_reads_without_a_parser(issuer: Issuer) -> None:
    paper = issuer.paper()
    data = forms.to_json_bytes(paper)
    fast = forms._from_canonical_json(data, forms.JSON_FORMAT)
    assert fast == paper == _strict_form(data) == forms.from_json_bytes(data)


def test_other_layouts_of_the_json_form_go_to_the_parser(issuer: Issuer) -> None:
    paper = issuer.paper()
    form = forms.to_json_form(paper)
    spaced = json.dumps(form, indent=1).encode()
    reordered = json.dumps(
        {"signature": form["signature"], "payload": form["payload"], "format": form["format"]}
    )
    escaped = forms.to_json_bytes(paper).replace(
        b'"key_id":"' + ISSUER.encode(), b'"key_id":"\\u0031' + ISSUER[1:].encode()
    )
    for data in (spaced, reordered.encode(), escaped):
        assert forms._from_canonical_json(data, forms.JSON_FORMAT) is None
        assert forms.from_json_bytes(data) == paper


@pytest.mark.parametrize(
    "change",
    [
        # A second payload or signature value in the same object: the strict parser refuses duplicate keys.
        lambda d: d.replace(b'"signature":', b'"payload":"AAAA","signature":'),
        lambda d: d.replace(b'"value":', b'"value":"AAAA","value":'),
        lambda d: d.replace(b'"payload":"', b'"payload":"+'),
        lambda d: d.replace(b'"payload":"', b'"payload":"/'),
        lambda d: d.replace(b'"payload":"', b'"payload":"\\n'),
        lambda d: d.replace(b'"payload":"', b'"payload":"='),
        lambda d: d.replace(b'"key_id":"', b'"key_id":"\x01'),
        lambda d: d + b"x",
    ],
)
def test_a_changed_json_form_is_refused_or_verifies_as_nothing(change: object, issuer: Issuer) -> None:
    paper = issuer.paper()
    data = change(forms.to_json_bytes(paper))  # type: ignore[operator]
    try:
        signed = forms.read_any(data)
    except forms.UnreadablePaper:
        return
    assert domain.verify_paper(signed, issuer.resolver, None, AT).status == domain.Status.INVALID


def test_payload_bytes_survive_both_readers(issuer: Issuer) -> None:
    paper = issuer.paper()
    assert b64url(paper.payload) in forms.to_json_bytes(paper).decode()
    assert parse_json(paper.payload) == parse_json_strict(paper.payload) == json.loads(paper.payload)
    assert canonical_json(parse_json(paper.payload)) == paper.payload
    assert f'"issuer":"{ISSUER}"'.encode() in paper.payload


def test_bulk_verification_gives_the_verdicts_of_one_at_a_time(issuer: Issuer) -> None:
    from tongban.papers import keys
    from tongban.papers.verify import verify, verify_many

    revoked = domain.RevokedPaper("110000-QY-2026-000002", "withdrawn", T0 + timedelta(hours=1))
    payload = domain.build_revocation_payload(issuer=ISSUER, serial=1, issued_at=T0, revoked=[revoked])
    revocations = domain.Revocations()
    revocations.add(
        domain.verify_revocation_list(domain.sign_bytes(payload, issuer.signer), issuer.resolver),
        checked_at=T0 + timedelta(hours=2),
    )
    stolen, stolen_key = keys.generate_key(ISSUER, not_before=T0 - timedelta(days=1), key_id="stolen")
    issuer.resolver.add(stolen_key)
    issuer.resolver.revoke(ISSUER, "stolen", at=T0 + timedelta(days=1), reason="compromise")
    stranger, _ = keys.generate_key(ISSUER, not_before=T0, key_id="stranger")
    good = issuer.paper()
    forged = forms.to_json_bytes(
        domain.SignedPaper(good.payload.replace(b"000001", b"000009"), good.signature)
    )
    inputs: list[bytes | str] = [
        forms.to_json_bytes(good),
        forms.to_json_bytes(issuer.paper(number="110000-QY-2026-000002")),  # revoked
        forms.to_json_bytes(issuer.paper(number="110000-QY-2026-000003", valid_for=timedelta(hours=1))),
        forms.to_json_bytes(issuer.paper(signer=stolen)),
        forms.to_json_bytes(issuer.paper(signer=stranger)),
        forms.to_json_bytes(issuer.paper(issued_at=T0 + timedelta(days=3))),
        forms.to_json_bytes(issuer.paper(valid_for=timedelta(days=40))),
        forged,
        forms.to_qr_text(good),
        json.dumps(forms.to_json_form(good), indent=2),
        b"not a paper",
        forms.to_json_bytes(_sign(issuer, good.payload.replace(b'"type":', b'"type":"x","type":'))),
    ]
    for revs in (revocations, None):
        one_by_one = [verify(x, issuer.resolver, revs, AT) for x in inputs]
        assert verify_many(inputs, issuer.resolver, revs, AT) == one_by_one
        assert [v.to_json() for v in verify_many(inputs, issuer.resolver, revs, AT)] == [
            v.to_json() for v in one_by_one
        ]
    statuses = [v.status for v in verify_many(inputs, issuer.resolver, revocations, AT)]
    assert statuses == [
        domain.Status.VALID,
        domain.Status.REVOKED,
        domain.Status.EXPIRED,
        domain.Status.INVALID,
        domain.Status.INVALID,
        domain.Status.INVALID,
        domain.Status.INVALID,
        domain.Status.INVALID,
        domain.Status.VALID,
        domain.Status.VALID,
        domain.Status.INVALID,
        domain.Status.INVALID,
    ]
