"""A signature made within its key's validity stays valid, unless the key was revoked for compromise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tongban.exchange import directory_admin
from tongban.exchange.directory import RevocationReason, SignatureRefused, verify_signature
from tongban.exchange.keys import node_key_provider

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sign(data_dir: Path, code: str, key_id: str, message: bytes) -> bytes:
    return node_key_provider(data_dir, code).signing_key("papers", key_id).sign(message)


def reason(fn: object) -> str:
    assert callable(fn)
    with pytest.raises(SignatureRefused) as info:
        fn()
    return info.value.reason


def test_rotation_then_revocation(tmp_path: Path) -> None:
    directory_admin.init(tmp_path, now=T0)
    d = directory_admin.add_node(tmp_path, code="110000", name="北京市", now=T0)
    old = d.node("110000").current_key("papers", T0)  # type: ignore[union-attr]
    assert old is not None
    msg = "证书 编号 0001".encode()
    signed_at = T0 + timedelta(days=1)
    sig = sign(tmp_path, "110000", old.key_id, msg)

    d, new_id = directory_admin.rotate_key(
        tmp_path, code="110000", purpose="papers", now=T0 + timedelta(days=2), lead=timedelta(days=1)
    )
    # The new key is announced but not yet current; afterwards it is.
    assert d.node("110000").current_key("papers", T0 + timedelta(days=2)).key_id == old.key_id  # type: ignore[union-attr]
    assert d.node("110000").current_key("papers", T0 + timedelta(days=4)).key_id == new_id  # type: ignore[union-attr]
    # The old signature still verifies long after the rotation.
    verify_signature(d, "110000", old.key_id, "papers", msg, sig, signed_at)
    # Signing with the old key after its end is refused.
    late = T0 + timedelta(days=10)
    assert (
        reason(lambda: verify_signature(d, "110000", old.key_id, "papers", msg, sig, late)) == "key-not-valid"
    )
    # Wrong purpose, unknown key, unknown node, bad signature.
    assert (
        reason(lambda: verify_signature(d, "110000", old.key_id, "envelopes", msg, sig, signed_at))
        == "wrong-purpose"
    )
    assert (
        reason(lambda: verify_signature(d, "110000", "pap-0", "papers", msg, sig, signed_at)) == "unknown-key"
    )
    assert (
        reason(lambda: verify_signature(d, "999999", old.key_id, "papers", msg, sig, signed_at))
        == "unknown-sender"
    )
    assert (
        reason(lambda: verify_signature(d, "110000", old.key_id, "papers", msg + b"!", sig, signed_at))
        == "bad-signature"
    )

    # Superseded: signatures before the revocation stay valid, later ones do not.
    d = directory_admin.revoke_key(
        tmp_path,
        code="110000",
        key_id=old.key_id,
        reason=RevocationReason.SUPERSEDED,
        now=T0 + timedelta(days=2, hours=12),
    )
    verify_signature(d, "110000", old.key_id, "papers", msg, sig, signed_at)
    after = T0 + timedelta(days=2, hours=13)
    assert (
        reason(lambda: verify_signature(d, "110000", old.key_id, "papers", msg, sig, after)) == "revoked-key"
    )

    # Compromise: nothing the key signed is trusted any more.
    d = directory_admin.revoke_key(
        tmp_path,
        code="110000",
        key_id=old.key_id,
        reason=RevocationReason.COMPROMISE,
        now=T0 + timedelta(days=3),
    )
    assert (
        reason(lambda: verify_signature(d, "110000", old.key_id, "papers", msg, sig, signed_at))
        == "revoked-key"
    )
    assert d.serial == 5
