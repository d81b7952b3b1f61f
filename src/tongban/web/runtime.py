"""Building what a process serves from settings: the nodes, migrated and ready."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tongban.core import migrate
from tongban.core.node import NodeEntry, open_node, read_manifest
from tongban.core.plugins import capability_modules
from tongban.core.settings import Settings
from tongban.exchange.directory import node_name
from tongban.exchange.settings import ExchangeSettings
from tongban.web.app import Runtime


def single_node(settings: Settings, code: str, db_url: str | None) -> NodeEntry:
    """The node a process serves alone (``--node CODE``), named as the data dir's manifest or else its signed
    directory names it (the code where neither does): its pages and documents (the acceptance slip, papers)
    show the same name as when the node is served embedded."""
    listed = next((e.name for e in read_manifest(settings.data_dir) if e.code == code), None)
    grace = timedelta(seconds=ExchangeSettings().directory_grace_s)
    name = listed or node_name(settings.data_dir, code, now=datetime.now(UTC), grace=grace)
    return NodeEntry(code=code, name=name or code, db_url=db_url)


def build_runtime(settings: Settings, only: list[NodeEntry] | None = None) -> Runtime:
    entries = only if only is not None else read_manifest(settings.data_dir)
    nodes = {}
    for entry in entries:
        node = open_node(entry, settings)
        migrate.upgrade(node.db)
        nodes[node.code] = node
    runtime = Runtime(settings=settings, nodes=nodes, embedded=only is None)
    # Capabilities attach their services (exchange relays, sealers, ...) to the runtime.
    for module in capability_modules("runtime"):
        module.attach(runtime)
    return runtime
