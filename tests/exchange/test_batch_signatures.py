"""Batch signatures: the relay signs a batch of envelopes with one Ed25519 signature over a Merkle root, each
envelope carries its path and verifies alone, re-sends are byte-identical, and every tampering is refused."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from exchange_support import Capture, Nation, effect_count, effect_keys
from sqlalchemy import select, update

from tongban.core.db import Database
from tongban.exchange import directory_admin, store
from tongban.exchange.directory import RevocationReason
from tongban.exchange.domain import (
    ALG_ED25519,
    ALG_ED25519_MERKLE,
    batch_root,
    envelope_hash,
    merkle_paths,
    parse,
)
from tongban.exchange.service import (
    NodeExchange,
    Outcome,
    apply_due,
    enqueue,
    receive,
    relay_due,
    sign_outbox,
)
from tongban.exchange.tables import OutboxRow, RejectionRow


def queue(ex: NodeExchange, n: int, *, recipient: str = "310000") -> dict[str, bytes]:
    """``n`` envelopes enqueued in one transaction; their outbox payloads by id."""
    with ex.node.db.transaction() as s:
        ids = [
            str(
                enqueue(
                    s,
                    node=ex.node,
                    recipient=recipient,
                    type="test.note.v1",
                    body={"key": f"k{i}", "text": "批量"},
                )
            )
            for i in range(n)
        ]
    with ex.node.db.session() as s:
        return {r.id: r.raw for r in s.scalars(select(OutboxRow).where(OutboxRow.id.in_(ids)))}


def relay(ex: NodeExchange) -> list[bytes]:
    capture = Capture()
    asyncio.run(relay_due(ex, capture))
    return [data for _, _, data in capture.sent]


def stored(ex: NodeExchange) -> dict[str, bytes]:
    with ex.node.db.session() as s:
        return {r.id: r.raw for r in s.scalars(select(OutboxRow))}


def block_of(raw: bytes) -> dict[str, object]:
    block = json.loads(raw.partition(b"\n")[2])
    assert isinstance(block, dict)
    return block


def with_block(raw: bytes, **changes: object) -> bytes:
    block = {**block_of(raw), **changes}
    block = {k: v for k, v in block.items() if v is not None}
    return raw.partition(b"\n")[0] + b"\n" + json.dumps(block, sort_keys=True).encode("ascii")


def refused(ex: NodeExchange, raw: bytes, reason: str) -> None:
    before = effect_count(ex.node.db)
    assert receive(ex, raw) is Outcome.REJECTED
    apply_due(ex)
    with ex.node.db.session() as s:
        last = s.scalars(select(RejectionRow.reason).order_by(RejectionRow.seq.desc())).first()
    assert last == reason
    assert effect_count(ex.node.db) == before


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 65, 100])
def test_every_path_leads_to_the_root_and_only_its_own_payload_does(n: int) -> None:
    payloads = [f'{{"n":{i}}}'.encode() for i in range(n)]
    root, paths = merkle_paths(payloads)
    for i, (payload, path) in enumerate(zip(payloads, paths, strict=True)):
        assert len(path) <= max(0, (n - 1).bit_length())
        assert batch_root(payload, path) == root
        other = payloads[(i + 1) % n]
        if n > 1:
            assert batch_root(other, path) != root
            assert batch_root(payload + b" ", path) != root


def test_a_relay_batch_carries_one_signature_and_each_envelope_verifies_alone(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    payloads = queue(beijing, 10)
    assert all(b"\n" not in p for p in payloads.values()), "the outbox keeps payloads until the relay signs"
    sent = relay(beijing)
    assert len(sent) == 10
    blocks = [block_of(raw) for raw in sent]
    assert {b["alg"] for b in blocks} == {ALG_ED25519_MERKLE}
    assert len({b["signature"] for b in blocks}) == 1
    assert all(len(b["path"]) <= 4 for b in blocks)  # type: ignore[arg-type]
    # What was published is what the outbox now keeps, and its payload is the one enqueued.
    assert sorted(stored(beijing).values()) == sorted(sent)
    by_id = {str(parse(raw).id): raw for raw in sent}
    for eid, payload in payloads.items():
        assert by_id[eid].partition(b"\n")[0] == payload
        # A response's hash of its request is the same from the outbox and from the wire.
        assert envelope_hash(payload) == envelope_hash(by_id[eid])
    # Each alone, in another order: accepted; one Ed25519 verification for the whole batch.
    for raw in reversed(sent):
        assert receive(shanghai, raw) is Outcome.ACCEPTED
    assert shanghai.roots.verified == 1
    assert apply_due(shanghai) == 10
    assert sorted(effect_keys(other_db)) == sorted(f"k{i}" for i in range(10))


def test_a_resend_is_byte_identical_and_answered_as_a_duplicate(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    queue(beijing, 5)
    first = relay(beijing)
    with database.transaction() as s:  # no receipt came: everything is due again
        s.execute(update(OutboxRow).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    again = relay(beijing)
    assert sorted(again) == sorted(first)
    for raw in first:
        assert receive(shanghai, raw) is Outcome.ACCEPTED
    for raw in again:
        assert receive(shanghai, raw) is Outcome.DUPLICATE
    assert apply_due(shanghai) == 5
    with other_db.session() as s:
        assert s.scalars(select(RejectionRow)).first() is None


def test_two_relays_signing_the_same_rows_send_the_same_bytes(nation: Nation, database: Database) -> None:
    beijing = nation.exchange("110000", database)
    queue(beijing, 4)
    with database.session() as s:
        due = store.due_outbox(s, datetime.now(UTC) + timedelta(seconds=1), 100)
    # Both read the rows unsigned; the second signs its own batch but must send what the first kept.
    first = {r.id: r.raw for r in sign_outbox(beijing, due)}
    second = {r.id: r.raw for r in sign_outbox(beijing, due)}
    assert first == second == stored(beijing)


def test_tampered_batch_envelopes_are_refused_and_recorded(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    queue(beijing, 6, recipient="310000")
    sent = relay(beijing)
    a, b = sent[0], sent[1]
    payload_a, payload_b = a.partition(b"\n")[0], b.partition(b"\n")[0]
    path_a = list(block_of(a)["path"])  # type: ignore[call-overload]
    # Another envelope's payload under this one's proof, and this payload under another's path.
    refused(shanghai, payload_b + b"\n" + a.partition(b"\n")[2], "bad-signature")
    refused(shanghai, payload_a + b"\n" + b.partition(b"\n")[2], "bad-signature")
    # A step on the wrong side, a sibling changed, a step left out or added.
    flipped = [("r" if path_a[0][0] == "l" else "l") + path_a[0][1:], *path_a[1:]]
    refused(shanghai, with_block(a, path=flipped), "bad-signature")
    changed = [path_a[0][0] + "A" * 43 + "=", *path_a[1:]]
    refused(shanghai, with_block(a, path=changed), "bad-signature")
    refused(shanghai, with_block(a, path=path_a[1:]), "bad-signature")
    refused(shanghai, with_block(a, path=[*path_a, path_a[0]]), "bad-signature")
    # Malformed proofs: not base64, a sibling of the wrong length, an unknown side, a path that is no list,
    # too long a path, a batch signature without its path, a plain signature with one.
    for path in (
        ["r!!!"],
        ["r" + "QUJD"],
        ["x" + path_a[0][1:]],
        "r" + path_a[0][1:],
        [path_a[0]] * 33,
    ):
        refused(shanghai, with_block(a, path=path), "malformed")
    refused(shanghai, with_block(a, path=None), "malformed")
    refused(shanghai, with_block(a, alg=ALG_ED25519), "malformed")
    refused(shanghai, with_block(a, alg="SM2-SM3"), "malformed")  # a path without a batch signature
    refused(shanghai, with_block(a, alg="SM2-SM3", path=None), "bad-signature")  # not supported here
    # The untouched envelopes are still accepted, and each applied once.
    for raw in sent:
        assert receive(shanghai, raw) is Outcome.ACCEPTED
    assert apply_due(shanghai) == 6
    assert effect_count(other_db) == 6


def test_a_revoked_key_is_refused_even_for_a_root_already_verified(
    nation: Nation, database: Database, other_db: Database
) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    queue(beijing, 3)
    sent = relay(beijing)
    assert receive(shanghai, sent[0]) is Outcome.ACCEPTED  # the root is now verified and cached
    assert apply_due(shanghai) == 1
    now = datetime.now(UTC)
    key_id = str(block_of(sent[0])["key_id"])
    directory_admin.revoke_key(
        nation.data_dir, code="110000", key_id=key_id, reason=RevocationReason.COMPROMISE, now=now
    )
    shanghai.directory.refresh()
    refused(shanghai, sent[1], "revoked-key")
    assert effect_count(other_db) == 1


def test_a_message_no_usable_key_can_sign_is_parked_and_the_others_go(
    nation: Nation, database: Database
) -> None:
    beijing = nation.exchange("110000", database)
    before = queue(beijing, 2)
    now = datetime.now(UTC)
    old_key = beijing.directory.current.node("110000").current_key("envelopes", now)  # type: ignore[union-attr]
    assert old_key is not None
    # The new key takes effect now, after the first two were created: only the old one was theirs.
    directory_admin.rotate_key(
        nation.data_dir, code="110000", purpose="envelopes", now=now, lead=timedelta(0)
    )
    directory_admin.revoke_key(
        nation.data_dir, code="110000", key_id=old_key.key_id, reason=RevocationReason.COMPROMISE, now=now
    )
    beijing.directory.refresh()
    after = queue(beijing, 3)  # signed with the new key
    sent = relay(beijing)
    assert sorted(str(parse(raw).id) for raw in sent) == sorted(after)
    assert {block_of(raw)["key_id"] for raw in sent} != {old_key.key_id}
    with database.session() as s:
        parked = {
            r.id: (r.state, r.reason) for r in s.scalars(select(OutboxRow).where(OutboxRow.id.in_(before)))
        }
    assert parked == {eid: ("parked", "no signing key usable at its creation") for eid in before}
    assert relay(beijing) == []  # parked: not tried again until an operator says so
