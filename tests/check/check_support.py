"""Support of the checker's tests: a small synthetic nation on the test's backend, with a locator.

Two provinces from the nation generator, imported through the registry's import path with the locator
listener (as a node with an exchange reports its registrations), plus the national locator node ``000000``;
``nation.json`` names every node's database URL, so ``tongban check --data-dir`` opens them on either backend.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from tests.conftest import missing_service, test_settings

from tongban.core.node import NodeContext, NodeEntry, open_node, write_manifest
from tongban.exchange.locator import LOCATOR_CODE, create_locator_key, report_registrations
from tongban.exchange.runtime import node_exchange
from tongban.exchange.settings import ExchangeSettings
from tongban.nation.build import ensure_directory
from tongban.nation.generator import generate_province
from tongban.nation.records import ACTOR, province_records
from tongban.registry.hooks import RegistrationChange
from tongban.registry.importing import import_records

CODES = ("110000", "440000")
NAMES = {"110000": "北京市", "440000": "广东省", LOCATOR_CODE: "全国人口定位"}


@dataclass
class SmallNation:
    data_dir: Path
    entries: list[NodeEntry]

    def open(self, code: str, *, exchange: bool = True) -> NodeContext:
        """A node of the nation at the real time (with its exchange, so registry changes reach the locator)."""
        entry = next(e for e in self.entries if e.code == code)
        node = open_node(entry, test_settings(self.data_dir))
        if exchange:
            node_exchange(node, self.data_dir, ExchangeSettings())
        return node


def new_url(code: str, backend: str, data_dir: Path, sqlite_template: Path, pg_factory: Any) -> str:
    if backend == "sqlite":
        target = data_dir / f"{code}.sqlite3"
        shutil.copyfile(sqlite_template, target)
        return f"sqlite:///{target}"
    if pg_factory is None:
        missing_service("PostgreSQL")
    return str(pg_factory.new())


def build_small_nation(
    tmp_path: Path, backend: str, sqlite_template: Path, pg_factory: Any, *, people: int = 150
) -> SmallNation:
    data_dir = tmp_path / "nation"
    data_dir.mkdir(parents=True, exist_ok=True)
    entries = [
        NodeEntry(code=c, name=NAMES[c], db_url=new_url(c, backend, data_dir, sqlite_template, pg_factory))
        for c in (*CODES, LOCATOR_CODE)
    ]
    ensure_directory(data_dir, entries)
    create_locator_key(data_dir)
    for entry in entries:
        if entry.code == LOCATOR_CODE:
            continue
        # The real time: the locator refuses envelopes older than its accept window.
        node = open_node(entry, test_settings(data_dir))
        node_exchange(node, data_dir, ExchangeSettings())

        def listener(s: Session, changes: Sequence[RegistrationChange], node: NodeContext = node) -> None:
            report_registrations(s, node=node, changes=changes)

        try:
            import_records(
                node.db,
                province_records(generate_province(entry.code, people, 2026, other_provinces=CODES)),
                node_code=entry.code,
                actor=ACTOR,
                clock=node.clock,
                listener=listener,
            )
        finally:
            node.db.dispose()
    write_manifest(data_dir, entries)
    return SmallNation(data_dir=data_dir, entries=entries)


def now() -> datetime:
    return datetime.now(UTC)
