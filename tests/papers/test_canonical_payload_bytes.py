"""The payload is canonical JSON: sorted keys, no spaces, UTF-8 as is, no Unicode normalisation."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tongban.papers.canonical import (
    CanonicalError,
    b45decode,
    b45encode,
    b64url,
    canonical_json,
    parse_json,
    unb64url,
)


def test_sorted_keys_no_whitespace_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["名", None, True]}) == '{"a":["名",null,true],"b":1}'.encode()


def test_no_unicode_normalisation() -> None:
    # U+F900 (a CJK compatibility ideograph) normalises to U+8C48 under NFC: it must survive as written.
    name = "\uf900"
    assert unicodedata.normalize("NFC", name) != name
    data = canonical_json({"name": name})
    assert "\uf900".encode() in data
    assert parse_json(data) == {"name": name}


def test_floats_and_duplicates_are_refused() -> None:
    with pytest.raises(CanonicalError):
        canonical_json({"x": 1.5})
    with pytest.raises(CanonicalError):
        parse_json(b'{"a":1,"a":2}')
    with pytest.raises(CanonicalError):
        parse_json(b'{"a":NaN}')


@given(st.binary(max_size=200))
def test_base45_and_base64url_round_trip(data: bytes) -> None:
    assert b45decode(b45encode(data)) == data
    assert unb64url(b64url(data)) == data


def test_non_canonical_base64url_is_refused() -> None:
    # "AB" and "AA" decode to the same byte only if stray bits are ignored; they must not be.
    assert unb64url("AA") == b"\x00"
    with pytest.raises(CanonicalError):
        unb64url("AB")
