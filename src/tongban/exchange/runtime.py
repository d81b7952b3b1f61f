"""Attaching the exchange to the nodes a process serves, and starting its loops."""

from __future__ import annotations

import atexit
import logging
from datetime import timedelta
from pathlib import Path

import tongban.exchange.locator  # registers the locator types
import tongban.exchange.probe
from tongban.audit.peers import register_exchange_type
from tongban.core.node import NodeContext
from tongban.exchange.directory import DIRECTORY_FILE, DirectoryHolder
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.keys import node_key_provider
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


def attach(runtime: Runtime) -> None:
    """Start the relay, receiver and worker of every node of the runtime (when a directory exists)."""
    data_dir = runtime.settings.data_dir
    if not (data_dir / DIRECTORY_FILE).exists() or not runtime.nodes:
        log.info("no directory in %s: the exchange is not started", data_dir)
        return
    settings = ExchangeSettings()
    exchanges = [node_exchange(node, data_dir, settings) for node in runtime.nodes.values()]
    nats_url = runtime.settings.nats_url
    runner = ExchangeRunner(exchanges, lambda: transport_for(nats_url, settings))
    runner.start()
    runtime.extras["exchange"] = runner
    # Stop the loops cleanly when the process ends (the web server has no hook for capabilities).
    atexit.register(runner.stop)
