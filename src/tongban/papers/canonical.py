"""Canonical JSON and the text encodings papers use (base64url, base45).

The canonical form of a paper's payload (documented in ``docs/papers.md``): JSON with object keys sorted by
code point, no insignificant whitespace (``,`` and ``:`` separators), non-ASCII characters written as
themselves in UTF-8 (never ``\\u`` escapes), no Unicode normalisation of any kind, integers only (no floats),
no duplicate keys. The signature covers these bytes; a verifier checks the signature over the bytes it was
given and only then parses them: it never re-serialises.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pydantic_core


class CanonicalError(ValueError):
    """A value that has no canonical form (a float, a non-string key, ...) or bytes that are not JSON."""


def _check(value: Any) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        raise CanonicalError("floats have no canonical form here: use integers or strings")
    if isinstance(value, list | tuple):
        for item in value:
            _check(item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            _check(item)
        return
    raise CanonicalError(f"cannot put a {type(value).__name__} in a paper")


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of ``value`` (see the module docstring)."""
    _check(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise CanonicalError("duplicate key in a JSON object")
    return out


def _no_constants(name: str) -> Any:
    raise CanonicalError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def parse_json(data: bytes) -> Any:
    """Parse JSON bytes strictly: UTF-8, no duplicate keys, no NaN/Infinity. Never normalises text."""
    if data.find(b"\\") < 0:
        try:
            value = _from_json(data, allow_inf_nan=False, cache_strings="keys")
        except ValueError:
            pass  # the strict parser below says why
        else:
            if _strings(value) * 2 == data.count(b'"'):
                return value
    return parse_json_strict(data)


def parse_json_strict(data: bytes) -> Any:
    """``parse_json`` with the standard library's parser and a duplicate-key check in every object."""
    try:
        text = data.decode("utf-8")
        return _DECODER.decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(str(exc)) from exc
    except ValueError as exc:  # an integer too long to convert
        raise CanonicalError(str(exc)) from exc


# The fast path of ``parse_json``: pydantic-core's JSON parser (Rust; it checks UTF-8 and refuses control
# characters in strings, trailing commas and, with allow_inf_nan=False, NaN and Infinity) keeps the last of two
# equal keys, so duplicates are found by counting. Without a backslash in the input every '"' opens or closes
# a string, so the input holds exactly count('"') / 2 strings, each an object key or a string value; a parse
# that dropped a duplicate key holds fewer. Input with a backslash, a float or a very long integer (where two
# parsers could differ at the edges) goes to the standard library's parser. Only keys are interned
# (cache_strings="keys"): they are the same in every paper, values are not.
_from_json = pydantic_core.from_json


def _strings(value: Any) -> int:
    """How many strings (object keys and string values) a parsed value holds; -1 when it holds a float or an
    integer beyond 64 bits."""
    kind = type(value)
    items: Any
    if kind is dict:
        count = len(value)
        items = value.values()
    elif kind is list:
        count = 0
        items = value
    elif kind is str:
        return 1
    elif kind is float or (kind is int and value.bit_length() > 63):
        return -1
    else:
        return 0
    for item in items:
        kind = type(item)
        if kind is str:
            count += 1
        elif kind is dict or kind is list:
            inner = _strings(item)
            if inner < 0:
                return -1
            count += inner
        elif kind is float or (kind is int and item.bit_length() > 63):
            return -1
    return count


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# base64url to base64; the standard alphabet's own "+" and "/" and any "=" become "*", which strict decoding refuses.
_URLSAFE_ONLY = bytes.maketrans(b"-_+/=", b"+/***")
_B64_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
# The characters a last character may be when 2 or 3 characters remain after the whole groups of four: its
# unused low bits (4 or 2 of them) must be zero, or two texts would carry the same bytes.
_B64_LAST = {
    2: frozenset(ord(c) for c, v in _B64_VALUE.items() if not v & 0b1111),
    3: frozenset(ord(c) for c, v in _B64_VALUE.items() if not v & 0b11),
}
_B64_PAD = (b"", b"", b"==", b"=")


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding; refuses any other character and stray trailing bits."""
    if not isinstance(text, str):
        raise CanonicalError("base64url text expected")
    try:
        raw = text.rstrip("=").encode("ascii")
    except UnicodeEncodeError as exc:
        raise CanonicalError("bad base64url") from exc
    return unb64url_ascii(raw)


def unb64url_ascii(raw: bytes) -> bytes:
    """``unb64url`` of ASCII bytes without padding (as the JSON forms carry it)."""
    tail = len(raw) % 4
    if tail == 1:
        raise CanonicalError("bad base64url")
    if tail and raw[-1] not in _B64_LAST[tail]:
        raise CanonicalError("non-canonical base64url")
    try:
        # Strict mode refuses any character outside the alphabet (no whitespace, no quote, no backslash), and
        # the translation turns "+", "/" and "=" into such a character.
        return binascii.a2b_base64(raw.translate(_URLSAFE_ONLY) + _B64_PAD[tail], strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise CanonicalError("bad base64url") from exc


# base45 (RFC 9285): the QR alphanumeric alphabet, 2 bytes -> 3 characters.
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_INDEX = {c: i for i, c in enumerate(B45)}


def b45encode(data: bytes) -> str:
    out = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = n % 45, n // 45
        d, e = n % 45, n // 45
        out.append(B45[c] + B45[d] + B45[e])
    if len(data) % 2:
        n = data[-1]
        out.append(B45[n % 45] + B45[n // 45])
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        values = [_B45_INDEX[c] for c in text]
    except KeyError as exc:
        raise CanonicalError("not base45") from exc
    if len(values) % 3 == 1:
        raise CanonicalError("bad base45 length")
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise CanonicalError("bad base45 triple")
            out += bytes((n // 256, n % 256))
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise CanonicalError("bad base45 pair")
            out.append(n)
    return bytes(out)
