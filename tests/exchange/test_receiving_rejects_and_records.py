"""Every refusal on receipt: nothing enters the inbox, nothing is applied, the rejection is recorded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from exchange_support import Nation, Note, effect_count, fast_settings, note_handler
from sqlalchemy import func, select

from tongban.core.db import Database
from tongban.exchange import directory_admin
from tongban.exchange.directory import RevocationReason
from tongban.exchange.domain import RECEIPT_TYPE, ReceiptBody, TypeRegistry
from tongban.exchange.keys import FileKeyProvider
from tongban.exchange.service import NodeExchange, Outcome, apply_due, receive
from tongban.exchange.tables import InboxRow, RejectionRow


def body(key: str = "k1", text: str = "hello") -> dict[str, str]:
    return {"key": key, "text": text}


def assert_refused(ex: NodeExchange, raw: bytes, reason: str, *, inbox: int = 0) -> RejectionRow:
    assert receive(ex, raw) is Outcome.REJECTED
    apply_due(ex)
    with ex.node.db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == inbox
        rows = list(s.scalars(select(RejectionRow).order_by(RejectionRow.seq)))
        s.expunge_all()
    assert rows, "no rejection recorded"
    assert rows[-1].reason == reason
    assert effect_count(ex.node.db) == inbox
    return rows[-1]


def test_a_valid_envelope_is_accepted_and_applied_once(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as("110000", "310000", body())
    assert receive(ex, raw) is Outcome.ACCEPTED
    assert apply_due(ex) == 1
    assert receive(ex, raw) is Outcome.DUPLICATE
    assert apply_due(ex) == 0
    assert effect_count(database) == 1
    with database.session() as s:
        row = s.scalars(select(InboxRow)).one()
        s.expunge_all()
        # The personal body is kept as received: encrypted.
        assert b"hello" not in row.raw
        assert row.receipt_due is True


def test_unknown_sender(nation: Nation, database: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ex = nation.exchange("310000", database)
    stranger = FileKeyProvider(tmp_path / "stranger")
    info = stranger.generate("envelopes")
    raw = nation.sign_as(
        "120000",
        "310000",
        body(),
        key_id=info.key_id,
        private_key=stranger.signing_key("envelopes", info.key_id),
    )
    row = assert_refused(ex, raw, "unknown-sender")
    assert row.receipt_due is False  # a stranger is not answered


def test_bad_signature(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    directory = ex.directory.current
    key = directory.node("110000").current_key("envelopes", datetime.now(UTC))  # type: ignore[union-attr]
    assert key is not None
    raw = nation.sign_as(
        "110000", "310000", body(), key_id=key.key_id, private_key=Ed25519PrivateKey.generate()
    )
    assert_refused(ex, raw, "bad-signature")


def test_tampered_body(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as("110000", "310000", body(text="原文"), encrypt=False, type="test.plain.v1")
    tampered = raw.replace("原文".encode(), "改文".encode(), 1)
    assert tampered != raw
    assert_refused(ex, tampered, "bad-signature")


def test_unknown_key_is_retryable_after_a_directory_refresh(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as(
        "110000", "310000", body(), key_id="env-000000000000", private_key=Ed25519PrivateKey.generate()
    )
    row = assert_refused(ex, raw, "unknown-key")
    assert row.retryable is True
    assert row.receipt_due is True


def test_revoked_key(nation: Nation, database: Database) -> None:
    now = datetime.now(UTC)
    old = nation.sign_as("110000", "310000", body())
    directory = directory_admin.show(nation.data_dir, now=now)
    key = directory.node("110000").current_key("envelopes", now)  # type: ignore[union-attr]
    assert key is not None
    directory_admin.revoke_key(
        nation.data_dir, code="110000", key_id=key.key_id, reason=RevocationReason.COMPROMISE, now=now
    )
    ex = nation.exchange("310000", database)
    assert_refused(ex, old, "revoked-key")


def test_wrong_recipient(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as("110000", "440000", body())
    row = assert_refused(ex, raw, "wrong-recipient")
    assert row.verified is True


def test_same_id_different_bytes_is_a_forgery(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    eid = uuid.uuid4()
    first = nation.sign_as("110000", "310000", body(key="a"), envelope_id=eid)
    second = nation.sign_as("110000", "310000", body(key="b"), envelope_id=eid)
    assert receive(ex, first) is Outcome.ACCEPTED
    apply_due(ex)
    row = assert_refused(ex, second, "forgery", inbox=1)
    assert row.envelope_id == str(eid)
    assert row.receipt_due is False


def test_stale_created_at(nation: Nation, database: Database) -> None:
    settings = fast_settings(accept_window_s=60.0)
    ex = nation.exchange("310000", database, settings=settings)
    raw = nation.sign_as("110000", "310000", body(), created_at=datetime.now(UTC) - timedelta(seconds=120))
    assert_refused(ex, raw, "stale")
    future = nation.sign_as("110000", "310000", body(), created_at=datetime.now(UTC) + timedelta(hours=1))
    assert_refused(ex, future, "stale")


def test_unsupported_type_version(nation: Nation, database: Database) -> None:
    registry = TypeRegistry()
    registry.register(RECEIPT_TYPE, ReceiptBody)
    for version in (1, 2, 3):
        registry.register(f"test.note.v{version}", Note, personal=True)
    handlers = {f"test.note.v{v}": note_handler for v in (1, 2, 3)}
    ex = nation.exchange("310000", database, registry=registry, handlers=handlers)
    # The current (v3) and the previous (v2) are accepted; v1 is not; an unknown type neither.
    assert (
        receive(ex, nation.sign_as("110000", "310000", body("v2"), type="test.note.v2")) is Outcome.ACCEPTED
    )
    assert_refused(
        ex, nation.sign_as("110000", "310000", body("v1"), type="test.note.v1"), "unsupported-type", inbox=1
    )
    assert_refused(
        ex, nation.sign_as("110000", "310000", body("x"), type="test.other.v1"), "unsupported-type", inbox=1
    )


def test_body_not_matching_its_schema(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as("110000", "310000", {"key": "k", "text": {"not": "a string"}})
    row = assert_refused(ex, raw, "invalid-body")
    assert row.detail is not None and "text" in row.detail


def test_personal_body_sent_in_clear_is_refused(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    assert_refused(ex, nation.sign_as("110000", "310000", body(), encrypt=False), "invalid-body")


def test_body_encrypted_to_another_node(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    raw = nation.sign_as("110000", "440000", body()).replace(b'"recipient":"440000"', b'"recipient":"310000"')
    # Re-pointing the recipient breaks the signature; a properly signed one encrypted to 440000 is undecryptable.
    assert_refused(ex, raw, "bad-signature")


def test_oversize(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database, settings=fast_settings(max_envelope_bytes=2048))
    raw = nation.sign_as("110000", "310000", body(text="x" * 4000))
    row = assert_refused(ex, raw, "oversize")
    assert row.size == len(raw)


def test_malformed(nation: Nation, database: Database) -> None:
    ex = nation.exchange("310000", database)
    assert_refused(ex, b"not an envelope", "malformed")
