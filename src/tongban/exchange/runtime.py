"""Attaching the exchange to the nodes a process serves, and starting its loops."""

from __future__ import annotations

import atexit
import logging
from datetime import timedelta
from pathlib import Path

import tongban.exchange.locator  # registers the locator types
import tongban.exchange.probe
from tongban.audit.peers import register_exchange_type
from tongban.core import migrate
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.exchange.directory import DIRECTORY_FILE, Directory, DirectoryHolder
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.keys import node_key_provider
from tongban.exchange.locator import LOCATOR_CODE
from tongban.exchange.service import NodeExchange
from tongban.exchange.settings import ExchangeSettings
from tongban.exchange.transport import (
    EmbeddedTransport,
    Faults,
    FaultyTransport,
    JetStreamTransport,
    Transport,
)
from tongban.web.app import Runtime

log = logging.getLogger("tongban.exchange")
register_exchange_type()  # audit.head.v1: nodes keep each other's audit chain heads


def node_exchange(
    node: NodeContext, data_dir: Path, settings: ExchangeSettings | None = None
) -> NodeExchange:
    """The exchange of ``node`` with its file keys and the directory of ``data_dir``; kept in its services."""
    settings = settings or ExchangeSettings()
    holder = DirectoryHolder(data_dir, grace=timedelta(seconds=settings.directory_grace_s), clock=node.clock)
    ex = NodeExchange(
        node=node, keys=node_key_provider(data_dir, node.code), directory=holder, settings=settings
    )
    node.services["exchange"] = ex
    tongban.exchange.locator.install_registration_listener(node)
    return ex


def transport_for(nats_url: str | None, settings: ExchangeSettings) -> Transport:
    """JetStream when a NATS URL is given, else embedded; wrapped in fault injection when settings ask for it."""
    inner: Transport = JetStreamTransport(nats_url, settings) if nats_url else EmbeddedTransport()
    faults = Faults(
        drop=settings.fault_drop,
        duplicate=settings.fault_duplicate,
        delay=settings.fault_delay,
        reorder=settings.fault_reorder,
    )
    if faults.drop or faults.duplicate or faults.delay or faults.reorder:
        log.warning("exchange transport with injected faults (%s)", faults)
        return FaultyTransport(inner, faults, settings.fault_seed)
    return inner


def embedded_locator(runtime: Runtime, directory: Directory) -> NodeContext | None:
    """The national locator's node, hosted with the others when a data dir's nation is served embedded.

    Only for an embedded runtime (``tongban serve --data-dir``) whose directory lists the locator and that
    does not already serve it as one of its nodes; it has no pages, only its exchange. Its database is the
    node database of ``LOCATOR_CODE`` (``<data_dir>/000000.sqlite3`` by default), migrated here.
    """
    record = directory.node(LOCATOR_CODE)
    if not runtime.embedded or record is None or LOCATOR_CODE in runtime.nodes:
        return None
    node = open_node(NodeEntry(code=LOCATOR_CODE, name=record.name), runtime.settings)
    migrate.upgrade(node.db)
    return node


def attach(runtime: Runtime) -> None:
    """Start the relay, receiver and worker of every node of the runtime (when a directory exists)."""
    data_dir = runtime.settings.data_dir
    if not (data_dir / DIRECTORY_FILE).exists() or not runtime.nodes:
        log.info("no directory in %s: the exchange is not started", data_dir)
        return
    settings = ExchangeSettings()
    exchanges = [node_exchange(node, data_dir, settings) for node in runtime.nodes.values()]
    locator = embedded_locator(runtime, exchanges[0].directory.current)
    if locator is not None:
        exchanges.append(node_exchange(locator, data_dir, settings))
        runtime.extras["locator"] = locator
    nats_url = runtime.settings.nats_url
    runner = ExchangeRunner(exchanges, lambda: transport_for(nats_url, settings))
    runner.start()
    runtime.extras["exchange"] = runner
    # Stop the loops cleanly when the process ends (the web server has no hook for capabilities).
    atexit.register(runner.stop)
