"""Helpers of the nation tests: a small nation built in a directory, and a digest of a node's content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from tests.conftest import test_settings

from tongban.core.node import NodeEntry, open_node, read_manifest
from tongban.nation import service
from tongban.nation.build import NodeSummary, build_nation
from tongban.registry.exporting import export_records


def small_nation(
    data_dir: Path, codes: list[str], *, people: int = 300, seed: int = 2026, demo_accounts: bool = False
) -> list[NodeSummary]:
    return build_nation(test_settings(data_dir), codes, people=people, seed=seed, demo_accounts=demo_accounts)


def node_digest(data_dir: Path, entry: NodeEntry) -> str:
    """SHA-256 of a node's content: the registry's ordered export, then the residents from elsewhere.

    (Accounts and the audit log are not the nation's content: their password hashes and digests are salted.)
    """
    node = open_node(entry, test_settings(data_dir))
    digest = hashlib.sha256()
    try:
        for record in export_records(node.db):
            digest.update(json.dumps(record, ensure_ascii=False, sort_keys=True).encode())
        for resident in service.residents(node):
            digest.update(repr(sorted(asdict(resident).items())).encode())
    finally:
        node.db.dispose()
    return digest.hexdigest()


def nation_digests(data_dir: Path) -> dict[str, str]:
    return {e.code: node_digest(data_dir, e) for e in read_manifest(data_dir)}
