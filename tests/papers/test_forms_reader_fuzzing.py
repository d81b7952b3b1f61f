"""Fuzzing the paper forms reader: any bytes or text raise only ``UnreadablePaper``; a changed form never verifies
as anything but the very paper it was made from."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from hypothesis import example, given
from hypothesis import strategies as st
from tests.papers.conftest import ISSUER, T0, Issuer

from tongban.papers import domain, forms, keys, render

AT = T0 + timedelta(days=1)
_signer, _key = keys.generate_key(ISSUER, not_before=T0 - timedelta(days=365))
ISSUING = Issuer(_signer, _key, keys.StaticKeyResolver([_key]))
PAPER = ISSUING.paper()
JSON_FORM = forms.to_json_bytes(PAPER)
QR_FORM = forms.to_qr_text(PAPER)
PDF_FORM = render.render_pdf(PAPER)

# Inputs that start like each form, so the fuzzer gets past the format sniffing.
HEADS = st.sampled_from(
    [b"", b"{", b"%PDF-1.7\n", b"TB1:", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF89a", b"BM"]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def read_or_unreadable(data: bytes) -> domain.SignedPaper | None:
    """The paper read from ``data``, or None when the reader refuses it; any other exception fails the test."""
    try:
        return forms.read_any(data)
    except forms.UnreadablePaper:
        return None


def mutate(data: bytes, positions: list[int], values: list[int]) -> bytes:
    out = bytearray(data)
    for p, v in zip(positions, values, strict=False):
        i = p % len(out)
        out[i] = v if v != out[i] else (v + 1) % 256
    return bytes(out)


@given(head=HEADS, tail=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_unreadable_paper(head: bytes, tail: bytes) -> None:
    read_or_unreadable(head + tail)


@given(text=st.text(max_size=200))
@example(text="TB1:")
@example(text="TB1:00")
@example(text="TB1:" + "Z" * 4)
def test_arbitrary_qr_text_raises_only_unreadable_paper(text: str) -> None:
    for candidate in (text, forms.QR_PREFIX + text):
        with contextlib.suppress(forms.UnreadablePaper):
            forms.from_qr_text(candidate)


@given(value=JSONISH)
@example(
    value={"format": forms.JSON_FORMAT, "payload": 1, "signature": {"alg": "a", "key_id": "k", "value": ""}}
)
@example(value={"format": forms.JSON_FORMAT, "payload": "", "signature": {"alg": "a", "key_id": "k"}})
@example(value={"format": forms.JSON_FORMAT, "payload": "", "signature": []})
def test_arbitrary_json_values_raise_only_unreadable_paper(value: object) -> None:
    data = json.dumps(value).encode()
    for form in (value, {"format": forms.JSON_FORMAT, "payload": value, "signature": value}):
        with contextlib.suppress(forms.UnreadablePaper):
            forms.from_json_bytes(json.dumps(form).encode())
    read_or_unreadable(data)


def _never_another_valid_paper(data: bytes) -> None:
    signed = read_or_unreadable(data)
    if signed is None:
        return
    verdict = domain.verify_paper(signed, ISSUING.resolver, domain.Revocations(), AT)
    # Either refused, or exactly the paper that was signed (a change outside the payload and signature, such
    # as one in a PDF's rendering, leaves the paper itself untouched).
    assert verdict.status is not domain.Status.VALID or signed == PAPER


@given(
    positions=st.lists(st.integers(min_value=0), min_size=1, max_size=3), values=st.lists(st.integers(0, 255))
)
def test_changed_json_form_is_refused(positions: list[int], values: list[int]) -> None:
    _never_another_valid_paper(mutate(JSON_FORM, positions, values or [0]))


@given(
    positions=st.lists(st.integers(min_value=0), min_size=1, max_size=3), values=st.lists(st.integers(0, 255))
)
def test_changed_qr_text_is_refused(positions: list[int], values: list[int]) -> None:
    _never_another_valid_paper(mutate(QR_FORM.encode(), positions, values or [0]))


@given(
    positions=st.lists(st.integers(min_value=0), min_size=1, max_size=3), values=st.lists(st.integers(0, 255))
)
def test_changed_pdf_is_refused_or_still_carries_the_same_paper(
    positions: list[int], values: list[int]
) -> None:
    _never_another_valid_paper(mutate(PDF_FORM, positions, values or [0]))


@given(cut=st.integers(min_value=0, max_value=len(PDF_FORM) - 1))
def test_truncated_pdf_raises_only_unreadable_paper(cut: int) -> None:
    _never_another_valid_paper(PDF_FORM[:cut])
