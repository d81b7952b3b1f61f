"""The forms a paper travels in, and reading any of them back into payload bytes and signature.

- **JSON**: ``{"format": "tongban.signed-paper.v1", "payload": b64url(payload bytes), "signature": {"alg",
  "key_id", "value": b64url}}``. The payload is carried as base64url so no JSON tool can re-encode it.
- **QR text**: ``TB1:`` + base45(container), container = ``0x01``, then alg, key id and signature each as one
  length byte and its bytes, then the payload bytes to the end. Base45 keeps the QR in alphanumeric mode (5.5
  bits a character) and has exactly one text for given bytes, so one changed character always changes the
  bytes. No compression: a deflate stream can be changed (its final padding bits, its header's level hint)
  without changing what it inflates to, and a changed QR text must never read as the same paper.
- **PDF**: a rendering (``render``) with the JSON form attached as ``paper.json``.

Reading never re-serialises the payload: the bytes recovered are the bytes that were signed.
"""

from __future__ import annotations

import io
from typing import Any

from tongban.papers.canonical import (
    CanonicalError,
    b45decode,
    b45encode,
    b64url,
    canonical_json,
    parse_json,
    unb64url,
    unb64url_ascii,
)
from tongban.papers.domain import SignatureBlock, SignedPaper

JSON_FORMAT = "tongban.signed-paper.v1"
QR_PREFIX = "TB1:"
ATTACHMENT_NAME = "paper.json"
MAX_PAYLOAD = 16 * 1024  # a paper is small; refuse anything larger
_CONTAINER_VERSION = 1


class UnreadablePaper(ValueError):
    """The input is none of the forms, or is damaged before any signature could be checked."""


# -- JSON ---------------------------------------------------------------------------------------------------------


def to_json_form(paper: SignedPaper, *, fmt: str = JSON_FORMAT) -> dict[str, Any]:
    return {
        "format": fmt,
        "payload": b64url(paper.payload),
        "signature": {
            "alg": paper.signature.alg,
            "key_id": paper.signature.key_id,
            "value": b64url(paper.signature.value),
        },
    }


def to_json_bytes(paper: SignedPaper) -> bytes:
    return canonical_json(to_json_form(paper))


def from_json_bytes(data: bytes, *, fmt: str = JSON_FORMAT) -> SignedPaper:
    fast = _from_canonical_json(data, fmt)
    if fast is not None:
        return fast
    try:
        raw = parse_json(data)
        if not isinstance(raw, dict) or raw.get("format") != fmt:
            raise UnreadablePaper("not a signed tongban paper")
        sig = raw["signature"]
        if (
            not isinstance(sig, dict)
            or not isinstance(sig.get("alg"), str)
            or not isinstance(sig.get("key_id"), str)
        ):
            raise UnreadablePaper("bad signature block")
        return SignedPaper(
            unb64url(raw["payload"]),
            SignatureBlock(sig["alg"], sig["key_id"], unb64url(sig["value"])),
        )
    except (CanonicalError, KeyError, TypeError) as exc:
        raise UnreadablePaper(str(exc)) from exc


# The JSON form exactly as ``to_json_bytes`` writes it, split at its quotes: these pieces, with the payload,
# the algorithm, the key id and the signature at the blank places.
_CANONICAL_SPLIT = b'{"format":"","payload":"","signature":{"alg":"","key_id":"","value":""}}'.split(b'"')
_CANONICAL_TEMPLATES: dict[str, list[bytes]] = {}
# Algorithm and key id as read (bytes) -> as text, once checked: there are few of them.
_SIGNATURE_NAMES: dict[tuple[bytes, bytes], tuple[str, str]] = {}


def _from_canonical_json(data: bytes, fmt: str) -> SignedPaper | None:
    """The signed paper of a JSON form laid out exactly as ``to_json_bytes`` writes it, read without a JSON
    parser; None for anything else (the strict parser then decides).

    Sound because in that layout every value is a plain string with no escape: the base64url fields are
    checked against their alphabet (strict decoding, which refuses quotes, backslashes and whitespace), and
    the algorithm and key id must be printable ASCII without a backslash. Such input parses, with the strict
    parser, to exactly these four values and nothing else (one object, no duplicate key).
    """
    parts = data.split(b'"')
    if len(parts) != 23:
        return None
    template = _CANONICAL_TEMPLATES.get(fmt)
    if template is None:
        template = _CANONICAL_TEMPLATES[fmt] = list(_CANONICAL_SPLIT)
        template[3] = fmt.encode("ascii")
    payload, alg, key_id, value = parts[7], parts[13], parts[17], parts[21]
    parts[7] = parts[13] = parts[17] = parts[21] = b""
    if parts != template:
        return None
    names = _SIGNATURE_NAMES.get((alg, key_id))
    if names is None:
        if not (alg + key_id).isascii():
            return None
        alg_text, key_text = alg.decode("ascii"), key_id.decode("ascii")
        if "\\" in alg_text or "\\" in key_text or not (alg_text + key_text).isprintable():
            return None
        if len(_SIGNATURE_NAMES) >= 4096:
            _SIGNATURE_NAMES.clear()
        names = _SIGNATURE_NAMES[(alg, key_id)] = (alg_text, key_text)
    try:
        return SignedPaper(unb64url_ascii(payload), SignatureBlock(names[0], names[1], unb64url_ascii(value)))
    except CanonicalError:
        return None


REVOCATIONS_JSON_FORMAT = "tongban.signed-revocations.v1"


def revocations_to_json_bytes(signed: SignedPaper) -> bytes:
    """A signed revocation list in the same wrapping as a paper's JSON form."""
    return canonical_json(to_json_form(signed, fmt=REVOCATIONS_JSON_FORMAT))


def revocations_from_json_bytes(data: bytes) -> SignedPaper:
    return from_json_bytes(data, fmt=REVOCATIONS_JSON_FORMAT)


# -- QR text --------------------------------------------------------------------------------------------------------


def _short(data: bytes) -> bytes:
    if len(data) > 255:
        raise ValueError("field too long for the QR container")
    return bytes((len(data),)) + data


def to_qr_text(paper: SignedPaper) -> str:
    sig = paper.signature
    container = (
        bytes((_CONTAINER_VERSION,))
        + _short(sig.alg.encode("ascii"))
        + _short(sig.key_id.encode("utf-8"))
        + _short(sig.value)
        + paper.payload
    )
    return QR_PREFIX + b45encode(container)


def from_qr_text(text: str) -> SignedPaper:
    text = text.strip()
    if not text.startswith(QR_PREFIX):
        raise UnreadablePaper("not a tongban paper QR code")
    body = text[len(QR_PREFIX) :]
    if len(body) > (MAX_PAYLOAD + 512) * 3 // 2:
        raise UnreadablePaper("oversized QR content")
    try:
        container = b45decode(body)
    except CanonicalError as exc:
        raise UnreadablePaper(str(exc)) from exc
    if not container or container[0] != _CONTAINER_VERSION:
        raise UnreadablePaper("unknown QR container version")
    pos = 1
    fields = []
    for _ in range(3):
        if pos >= len(container):
            raise UnreadablePaper("truncated QR content")
        n = container[pos]
        fields.append(container[pos + 1 : pos + 1 + n])
        pos += 1 + n
    if pos > len(container):
        raise UnreadablePaper("truncated QR content")
    try:
        alg, key_id = fields[0].decode("ascii"), fields[1].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadablePaper("bad signature block") from exc
    return SignedPaper(container[pos:], SignatureBlock(alg, key_id, fields[2]))


def read_qr_image(data: bytes) -> str:
    """The text of the tongban QR code in an image (PNG, JPEG, ...), read with zxing-cpp."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - both are installed with tongban
        raise UnreadablePaper("no QR decoder installed") from exc
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise UnreadablePaper("not an image") from exc
    for result in zxingcpp.read_barcodes(image):
        if result.text.startswith(QR_PREFIX):
            return str(result.text)
    raise UnreadablePaper("no tongban QR code found in the image")


# -- PDF -----------------------------------------------------------------------------------------------------------


def read_pdf_attachment(data: bytes) -> bytes:
    """The ``paper.json`` attached to a paper's PDF."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        attachments = reader.attachments
        found = attachments.get(ATTACHMENT_NAME)
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise UnreadablePaper("not a readable PDF") from exc
    if not found:
        raise UnreadablePaper("the PDF carries no signed paper")
    if len(found) != 1:
        raise UnreadablePaper("the PDF carries more than one signed paper")
    return bytes(found[0])


# -- any form ---------------------------------------------------------------------------------------------------------


def read_any(data: bytes) -> SignedPaper:
    """A signed paper from JSON, QR text, a QR image or a PDF (detected from the content)."""
    head = data[:16].lstrip()
    if head.startswith(b"%PDF-"):
        return from_json_bytes(read_pdf_attachment(data))
    if head.startswith(b"{"):
        return from_json_bytes(data)
    if head.startswith(QR_PREFIX.encode("ascii")):
        try:
            return from_qr_text(data.decode("ascii"))
        except UnicodeDecodeError as exc:
            raise UnreadablePaper("QR text is not ASCII") from exc
    if head.startswith((b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM", b"RIFF")):
        return from_qr_text(read_qr_image(data))
    raise UnreadablePaper("not a paper in JSON, QR or PDF form")
