"""Run code when the web app stops (uvicorn's normal shutdown), by wrapping the app's lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

log = logging.getLogger("tongban.lifecycle")


def on_shutdown(app: FastAPI, fn: Callable[[], None]) -> None:
    """Call ``fn`` after the app's own lifespan ends (errors are logged by type, never swallowed silently)."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            try:
                yield state
            finally:
                try:
                    fn()
                except Exception as exc:
                    log.error("shutdown step %s failed: %s", getattr(fn, "__name__", fn), type(exc).__name__)
                    raise

    app.router.lifespan_context = lifespan
