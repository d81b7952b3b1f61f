"""Start each node's buffer of access records (``node.services["access.views"]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tongban.access.accesslog import ViewBuffer
from tongban.access.settings import AccessSettings
from tongban.access.web import VIEW_SERVICE

if TYPE_CHECKING:
    from tongban.web.app import Runtime


def attach(runtime: Runtime) -> None:
    settings: AccessSettings = runtime.extras.get("access_settings") or AccessSettings()
    for node in runtime.nodes.values():
        if VIEW_SERVICE in node.services:
            continue
        buf = ViewBuffer(
            node.db,
            node.clock,
            interval_s=settings.view_flush_interval_s,
            batch=settings.view_batch,
            max_pending=settings.view_buffer_max,
        )
        if settings.flusher_enabled:
            buf.start()
        node.services[VIEW_SERVICE] = buf


def detach(runtime: Runtime) -> None:
    """Stop the flushers, committing every record still buffered."""
    for node in runtime.nodes.values():
        buf = node.services.pop(VIEW_SERVICE, None)
        if isinstance(buf, ViewBuffer):
            buf.stop()
