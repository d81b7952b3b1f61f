"""Building what a process serves from settings: the nodes, migrated and ready."""

from __future__ import annotations

from tongban.core import migrate
from tongban.core.node import NodeEntry, open_node, read_manifest
from tongban.core.plugins import capability_modules
from tongban.core.settings import Settings
from tongban.web.app import Runtime


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
