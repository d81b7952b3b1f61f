"""Concurrent issues get distinct numbers; concurrent revocations each get their own list serial, none lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import test_settings
from tests.papers.conftest import SUBJECT, T0, migration_facts

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.papers import keys, service


@pytest.fixture
def node(database: Database, tmp_path: Path) -> NodeContext:
    store = keys.FileKeyStore(tmp_path / "keys")
    store.create("110000", not_before=T0 - timedelta(days=1))
    return NodeContext(
        code="110000",
        name="北京市",
        db=database,
        settings=test_settings(tmp_path),
        clock=FixedClock(T0),
        services={service.KEYS_SERVICE: store},
    )


def _issue(node: NodeContext) -> str:
    with node.db.transaction() as s:
        paper = service.issue_paper(
            s,
            node=node,
            division_code="110105",
            actor="user:1",
            type="mig.certificate",
            subject=SUBJECT,
            facts=migration_facts(),
            valid_until=None,
            purpose="迁入广东省",
        )
        return paper.number


def _revoke(node: NodeContext, number: str) -> None:
    with node.db.transaction() as s:
        service.revoke_paper(s, node=node, actor="user:1", number=number, reason="withdrawn")


def test_parallel_issues_and_revocations(node: NodeContext) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        numbers = list(pool.map(lambda _: _issue(node), range(8)))
    assert len(set(numbers)) == 8
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, 9))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: _revoke(node, n), numbers[:6]))
    resolver = node.services[service.KEYS_SERVICE].resolver()
    with node.db.session() as s:
        listed = service.local_revocations(s, issuer="110000", resolver=resolver)
    assert listed is not None
    assert set(listed.revoked) == set(numbers[:6])  # the newest list carries every revocation
    assert listed.serial >= 6
