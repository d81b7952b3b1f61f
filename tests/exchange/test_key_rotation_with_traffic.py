"""A key rotation with traffic flowing loses nothing; an old signature still verifies; a revoked key's does not."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from exchange_support import Nation, effect_keys, wait_until
from sqlalchemy import select

from tongban.core.db import Database
from tongban.exchange import directory_admin
from tongban.exchange.directory import RevocationReason, SignatureRefused, verify_signature
from tongban.exchange.domain import parse
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.service import enqueue
from tongban.exchange.tables import InboxRow
from tongban.exchange.transport import EmbeddedTransport


def test_rotation_with_traffic_flowing(nation: Nation, database: Database, other_db: Database) -> None:
    beijing = nation.exchange("110000", database)
    shanghai = nation.exchange("310000", other_db)
    old_key = beijing.directory.current.node("110000").current_key("envelopes", datetime.now(UTC))  # type: ignore[union-attr]
    assert old_key is not None
    runner = ExchangeRunner([beijing, shanghai], EmbeddedTransport)
    runner.start()
    sent = 0
    try:
        rotated = False
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            with beijing.node.db.transaction() as s:
                enqueue(
                    s,
                    node=beijing.node,
                    recipient="310000",
                    type="test.note.v1",
                    body={"key": f"m-{sent}", "text": "t"},
                )
            sent += 1
            if not rotated and time.monotonic() - start > 0.5:
                _, new_key_id = directory_admin.rotate_key(
                    nation.data_dir,
                    code="110000",
                    purpose="envelopes",
                    now=datetime.now(UTC),
                    lead=timedelta(seconds=1),
                )
                rotated = True
            time.sleep(0.02)
        assert wait_until(lambda: len(effect_keys(other_db)) == sent, 30)
    finally:
        runner.stop()
    assert sorted(effect_keys(other_db)) == sorted(f"m-{i}" for i in range(sent))
    with other_db.session() as s:
        raws = list(s.scalars(select(InboxRow.raw).order_by(InboxRow.seq)))
    envelopes = [parse(r) for r in raws]
    used = {e.key_id for e in envelopes}
    assert used == {old_key.key_id, new_key_id}, "traffic used both keys"

    # Long after the rotation, a message signed by the old key still verifies.
    directory = directory_admin.show(nation.data_dir, now=datetime.now(UTC))
    old_env = next(e for e in envelopes if e.key_id == old_key.key_id)
    verify_signature(
        directory,
        "110000",
        old_key.key_id,
        "envelopes",
        old_env.signed,
        old_env.signature,
        old_env.created_at,
    )

    # Once the old key is revoked for compromise, it does not.
    directory = directory_admin.revoke_key(
        nation.data_dir,
        code="110000",
        key_id=old_key.key_id,
        reason=RevocationReason.COMPROMISE,
        now=datetime.now(UTC),
    )
    with pytest.raises(SignatureRefused) as info:
        verify_signature(
            directory,
            "110000",
            old_key.key_id,
            "envelopes",
            old_env.signed,
            old_env.signature,
            old_env.created_at,
        )
    assert info.value.reason == "revoked-key"
    new_env = next(e for e in envelopes if e.key_id == new_key_id)
    verify_signature(
        directory, "110000", new_key_id, "envelopes", new_env.signed, new_env.signature, new_env.created_at
    )
