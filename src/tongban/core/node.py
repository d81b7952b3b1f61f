"""A node is one province's deployment: its code, its database, its clock.

Code takes a ``NodeContext`` as a parameter; there is no module-level "current node". In the embedded
default one process holds several contexts (one SQLite file each); in production a process holds one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tongban.core.clock import Clock, SystemClock
from tongban.core.db import Database
from tongban.core.settings import Settings


@dataclass
class NodeContext:
    code: str  # provincial-level GB/T 2260 code, six digits, e.g. "110000"
    name: str
    db: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    # Services attached by capabilities at start-up (exchange relay, key provider, ...), by name.
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def province_prefix(self) -> str:
        return self.code[:2]


MANIFEST = "nation.json"


@dataclass(frozen=True)
class NodeEntry:
    code: str
    name: str
    db_url: str | None = None


def read_manifest(data_dir: Path) -> list[NodeEntry]:
    """The nodes of an embedded data dir, from its ``nation.json`` (empty when there is none)."""
    path = data_dir / MANIFEST
    if not path.exists():
        return []
    raw = json.loads(path.read_text(encoding="utf-8"))
    return [NodeEntry(code=n["code"], name=n["name"], db_url=n.get("db_url")) for n in raw.get("nodes", [])]


def write_manifest(data_dir: Path, nodes: list[NodeEntry], **extra: Any) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    doc = {"nodes": [{"code": n.code, "name": n.name, "db_url": n.db_url} for n in nodes], **extra}
    tmp = data_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(data_dir / MANIFEST)


def open_node(entry: NodeEntry, settings: Settings, clock: Clock | None = None) -> NodeContext:
    url = entry.db_url or settings.node_db_url(entry.code)
    return NodeContext(
        code=entry.code,
        name=entry.name,
        db=Database(url, settings),
        settings=settings,
        clock=clock or SystemClock(),
    )
