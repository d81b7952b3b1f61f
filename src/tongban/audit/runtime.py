"""Start a sealer for every node a process serves (``node.services["audit.sealer"]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tongban.audit.jobs import Sealer
from tongban.audit.peers import HeadPublisher
from tongban.audit.settings import AuditSettings

if TYPE_CHECKING:
    from tongban.web.app import Runtime

SERVICE = "audit.sealer"
HEADS = "audit.head_publisher"


def attach(runtime: Runtime) -> None:
    settings: AuditSettings = runtime.extras.get("audit_settings") or AuditSettings()
    if not settings.sealer_enabled:
        return
    for node in runtime.nodes.values():
        if SERVICE in node.services:
            continue
        sealer = Sealer(
            node.db, node.clock, interval_s=settings.seal_interval_s, batch_size=settings.seal_batch
        )
        node.services[SERVICE] = sealer
        sealer.start()
        # Sends the sealed head to peers whenever the node has an exchange (attached after this, or never).
        publisher = HeadPublisher(node, interval_s=settings.head_interval_s)
        node.services[HEADS] = publisher
        publisher.start()


def detach(runtime: Runtime) -> None:
    """Stop the sealers, sealing what is pending first."""
    for node in runtime.nodes.values():
        publisher = node.services.pop(HEADS, None)
        if isinstance(publisher, HeadPublisher):
            publisher.stop()
        sealer = node.services.pop(SERVICE, None)
        if isinstance(sealer, Sealer):
            sealer.stop()
