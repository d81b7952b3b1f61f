"""Stop the deadline sweep when the app shuts down."""

from __future__ import annotations

from fastapi import FastAPI

from tongban.audit.lifecycle import on_shutdown
from tongban.cases import runtime as cases_runtime


def install(app: FastAPI) -> None:
    def stop_deadline_sweep() -> None:
        cases_runtime.detach(app.state.runtime)

    on_shutdown(app, stop_deadline_sweep)
