"""Stop the audit sealers when the app shuts down (what is pending is sealed first)."""

from __future__ import annotations

from fastapi import FastAPI

from tongban.audit import runtime as audit_runtime
from tongban.audit.lifecycle import on_shutdown


def install(app: FastAPI) -> None:
    def stop_sealers() -> None:
        audit_runtime.detach(app.state.runtime)

    on_shutdown(app, stop_sealers)
