"""Any changed character in the payload, the signature, the QR text or the PDF attachment fails."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from pypdf import PdfReader, PdfWriter
from tests.papers.conftest import T0, Issuer

from tongban.papers import domain, forms, keys, render
from tongban.papers.canonical import b64url, unb64url

AT = T0 + timedelta(days=1)


def _verdict(data: bytes, issuer: Issuer) -> domain.Status:
    try:
        signed = forms.read_any(data)
    except forms.UnreadablePaper:
        return domain.Status.INVALID
    return domain.verify_paper(signed, issuer.resolver, domain.Revocations(), AT).status


def test_untouched_forms_verify(issuer: Issuer) -> None:
    paper = issuer.paper()
    for data in (forms.to_json_bytes(paper), forms.to_qr_text(paper).encode(), render.render_pdf(paper)):
        assert _verdict(data, issuer) == domain.Status.VALID


def _flip(text: str, i: int, alphabet: str) -> str:
    replacement = next(c for c in alphabet if c != text[i])
    return text[:i] + replacement + text[i + 1 :]


def test_every_changed_payload_character_fails(issuer: Issuer) -> None:
    paper = issuer.paper()
    text = paper.payload.decode()
    assert domain.verify_paper(paper, issuer.resolver, None, AT).status == domain.Status.VALID
    for i in range(len(text)):
        changed = _flip(text, i, "0123456789aé测").encode()
        forged = domain.SignedPaper(changed, paper.signature)
        verdict = domain.verify_paper(forged, issuer.resolver, None, AT)
        assert verdict.status == domain.Status.INVALID, (i, text[i])
        assert verdict.paper is None  # nothing a forged paper says is shown


def test_changed_signature_fails(issuer: Issuer) -> None:
    paper = issuer.paper()
    sig = bytearray(paper.signature.value)
    for i in range(0, len(sig), 7):
        changed = bytes(sig[:i]) + bytes([sig[i] ^ 1]) + bytes(sig[i + 1 :])
        forged = domain.SignedPaper(
            paper.payload, domain.SignatureBlock("Ed25519", paper.signature.key_id, changed)
        )
        verdict = domain.verify_paper(forged, issuer.resolver, None, AT)
        assert verdict.status == domain.Status.INVALID
        assert verdict.reasons[0].code == "bad-signature"


def test_changed_character_of_json_form_fails(issuer: Issuer) -> None:
    paper = issuer.paper()
    form = json.loads(forms.to_json_bytes(paper))
    for field in ("payload",):
        text = form[field]
        for i in range(0, len(text), 5):
            changed = dict(form, **{field: _flip(text, i, "ABCabc012")})
            assert _verdict(json.dumps(changed).encode(), issuer) == domain.Status.INVALID, i
    sig = form["signature"]["value"]
    for i in range(0, len(sig), 3):
        changed = dict(form, signature=dict(form["signature"], value=_flip(sig, i, "ABCabc012")))
        assert _verdict(json.dumps(changed).encode(), issuer) == domain.Status.INVALID, i


def test_every_changed_qr_character_fails(issuer: Issuer) -> None:
    # Several papers (each key signs differently) and several replacements at every position: no changed
    # character may read back as a paper, not even as the same one.
    for n in range(3):
        signer, key = keys.generate_key("110000", not_before=issuer.key.not_before, key_id=f"k{n}")
        issuer.resolver.add(key)
        text = forms.to_qr_text(issuer.paper(signer=signer))
        for i in range(len(forms.QR_PREFIX), len(text)):
            for replacement in "0A $":
                if replacement == text[i]:
                    continue
                changed = text[:i] + replacement + text[i + 1 :]
                assert _verdict(changed.encode(), issuer) == domain.Status.INVALID, (n, i, replacement)


def _reattach(pdf: bytes, attachment: bytes) -> bytes:
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        writer.add_page(page)
    writer.add_attachment(forms.ATTACHMENT_NAME, attachment)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_changed_pdf_attachment_fails(issuer: Issuer) -> None:
    paper = issuer.paper()
    pdf = render.render_pdf(paper)
    attached = forms.read_pdf_attachment(pdf)
    assert _verdict(_reattach(pdf, attached), issuer) == domain.Status.VALID
    form = json.loads(attached)
    payload = unb64url(form["payload"]).decode()
    # Change one character of the name the paper shows, keep everything else.
    forged_payload = payload.replace("测试甲", "测试乙").encode()
    assert forged_payload != payload.encode()
    forged = json.dumps(dict(form, payload=b64url(forged_payload))).encode()
    assert _verdict(_reattach(pdf, forged), issuer) == domain.Status.INVALID
    one_char = attached.replace(b'"alg":"Ed25519"', b'"alg":"Ed25518"')
    assert _verdict(_reattach(pdf, one_char), issuer) == domain.Status.INVALID


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"TB1:", b"TB1:%%%", b"{}", b"%PDF-1.4 junk", b"\x89PNG junk"]
)
def test_garbage_is_unreadable_not_a_crash(data: bytes, issuer: Issuer) -> None:
    assert _verdict(data, issuer) == domain.Status.INVALID
