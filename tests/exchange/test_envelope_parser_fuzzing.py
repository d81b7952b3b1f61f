"""Fuzzing the envelope parser and verifier: any bytes raise only ``Rejected``; a changed envelope never verifies
as anything but the envelope that was signed."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import example, given
from hypothesis import strategies as st

from tongban.exchange.directory import verify_ed25519
from tongban.exchange.domain import Envelope, Rejected, Rejection, decrypt_body, parse, seal
from tongban.exchange.keys import public_bytes_of

SIGNING = Ed25519PrivateKey.generate()
SIGNING_PUB = public_bytes_of(SIGNING)
RECIPIENT = X25519PrivateKey.generate()
BODY = {"case_ref": "C-2026-000001", "note": "测试", "n": 1}
_, SEALED = seal(
    sender="110000",
    recipient="440000",
    type="test.note.v1",
    body=BODY,
    created_at=datetime(2026, 11, 27, 4, 0, tzinfo=UTC),
    signing_key=SIGNING,
    key_id="env-1",
    case_ref="C-2026-000001",
    encrypt_to=("enc-1", public_bytes_of(RECIPIENT)),
    envelope_id=uuid.UUID(int=1),
)
ORIGINAL = parse(SEALED)
PAYLOAD_LINE, BLOCK_LINE = SEALED.split(b"\n", 1)


def parse_or_rejected(raw: bytes) -> Envelope | None:
    try:
        return parse(raw)
    except Rejected as rejected:
        assert rejected.reason is Rejection.MALFORMED
        return None


def payload(**fields: Any) -> bytes:
    doc = {
        "id": str(uuid.UUID(int=2)),
        "sender": "110000",
        "recipient": "440000",
        "type": "test.note.v1",
        "created_at": "2026-11-27T04:00:00+00:00",
        "body": {},
        **fields,
    }
    return json.dumps(doc).encode() + b"\n" + BLOCK_LINE


@given(raw=st.binary(max_size=400))
@example(raw=b"[" * 100_000 + b"\n" + BLOCK_LINE)  # nesting deeper than the JSON parser's recursion limit
@example(raw=PAYLOAD_LINE + b"\n" + b"[" * 100_000)
@example(raw=payload(created_at="0001-01-01T00:00:00+14:00"))  # before the earliest UTC time
@example(raw=payload(created_at="9999-12-31T23:59:59-14:00"))  # after the latest UTC time
@example(raw=payload(created_at="2026-11-27T04:00:00"))  # no zone
@example(raw=payload(id=["not", "a", "uuid"]))
@example(raw=payload(body=None, enc={"alg": 1}))
def test_arbitrary_bytes_raise_only_rejected(raw: bytes) -> None:
    parse_or_rejected(raw)


@given(
    lines=st.tuples(
        st.dictionaries(
            st.sampled_from(["id", "sender", "recipient", "type", "created_at", "body", "enc", "case_ref"]),
            st.none()
            | st.integers()
            | st.text(max_size=30)
            | st.dictionaries(st.text(max_size=5), st.text()),
        ),
        st.dictionaries(
            st.sampled_from(["alg", "key_id", "signature"]), st.text(max_size=20) | st.integers()
        ),
    )
)
def test_arbitrary_json_documents_raise_only_rejected(lines: tuple[dict[str, Any], dict[str, Any]]) -> None:
    doc, block = lines
    parse_or_rejected(json.dumps(doc).encode() + b"\n" + json.dumps(block).encode())


@given(enc=st.dictionaries(st.sampled_from(["alg", "kid", "epk", "nonce", "ct"]), st.text(max_size=60)))
@example(enc={"alg": "X25519-HKDF-SHA256-ChaCha20Poly1305", "kid": "k", "epk": "AAAA", "nonce": "", "ct": ""})
def test_arbitrary_encrypted_bodies_raise_only_rejected(enc: dict[str, str]) -> None:
    envelope = parse(payload(body=None, enc=enc))
    try:
        decrypt_body(envelope, lambda kid: RECIPIENT)
    except Rejected as rejected:
        assert rejected.reason is Rejection.UNDECRYPTABLE


def mutate(data: bytes, positions: list[int], values: list[int]) -> bytes:
    out = bytearray(data)
    for p, v in zip(positions, values, strict=False):
        i = p % len(out)
        out[i] = v if v != out[i] else (v + 1) % 256
    return bytes(out)


@given(
    positions=st.lists(st.integers(min_value=0), min_size=1, max_size=3),
    values=st.lists(st.integers(0, 255), min_size=1, max_size=3),
)
def test_changed_envelope_never_verifies_as_another(positions: list[int], values: list[int]) -> None:
    changed = mutate(SEALED, positions, values)
    envelope = parse_or_rejected(changed)
    if envelope is None or not verify_ed25519(SIGNING_PUB, envelope.payload, envelope.signature):
        return
    # The signature still holds: then the signed bytes are the original ones (a change can only have hit the
    # signature block's alg or key id, which the receiver checks against the directory).
    assert envelope.payload == ORIGINAL.payload and envelope.signature == ORIGINAL.signature
    assert decrypt_body(envelope, lambda kid: RECIPIENT) == BODY


def test_the_unchanged_envelope_verifies_and_decrypts() -> None:
    assert verify_ed25519(SIGNING_PUB, ORIGINAL.payload, ORIGINAL.signature)
    assert decrypt_body(ORIGINAL, lambda kid: RECIPIENT) == BODY


def test_deep_nesting_and_out_of_range_times_are_malformed_not_crashes() -> None:
    # Found by the fuzzing above: a RecursionError and an OverflowError escaped ``parse`` and would have
    # ended a whole receive batch instead of one rejected envelope.
    for raw in (
        b"[" * 100_000 + b"\n" + BLOCK_LINE,
        PAYLOAD_LINE + b"\n" + b"{" * 100_000,
        payload(created_at="0001-01-01T00:00:00+14:00"),
        payload(created_at="9999-12-31T23:59:59-14:00"),
    ):
        try:
            parse(raw)
        except Rejected as rejected:
            assert rejected.reason is Rejection.MALFORMED
        else:
            raise AssertionError("accepted")
