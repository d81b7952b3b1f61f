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
    try:
        text = data.decode("utf-8")
        return _DECODER.decode(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CanonicalError(str(exc)) from exc


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 4648 section 5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_URLSAFE = bytes.maketrans(b"-_", b"+/")
_B64_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding; refuses any other character and stray trailing bits."""
    if not isinstance(text, str):
        raise CanonicalError("base64url text expected")
    stripped = text.rstrip("=")
    tail = len(stripped) % 4
    if tail == 1 or "+" in stripped or "/" in stripped:
        raise CanonicalError("bad base64url")
    if tail:
        # The last character's unused low bits must be zero, or two texts would carry the same bytes.
        last = _B64_VALUE.get(stripped[-1])
        if last is None or last & (0b1111 if tail == 2 else 0b11):
            raise CanonicalError("non-canonical base64url")
    try:
        raw = stripped.encode("ascii").translate(_URLSAFE)
        return binascii.a2b_base64(raw + b"=" * (-tail % 4), strict_mode=True)
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
