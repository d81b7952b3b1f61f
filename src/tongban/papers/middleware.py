"""Stop the revocation pull when the app shuts down."""

from __future__ import annotations

from fastapi import FastAPI

from tongban.audit.lifecycle import on_shutdown
from tongban.papers import runtime as papers_runtime


def install(app: FastAPI) -> None:
    def stop_revocation_pull() -> None:
        papers_runtime.detach(app.state.runtime)

    on_shutdown(app, stop_revocation_pull)
