"""Start-up: importing the service registers the migration message types and their handlers."""

from __future__ import annotations

import tongban.migration.service  # noqa: F401  (registers mig.*.v1 types and handlers)
from tongban.web.app import Runtime


def attach(runtime: Runtime) -> None:
    """Nothing to start: the saga's work runs in the exchange's apply loop and in the use cases."""
