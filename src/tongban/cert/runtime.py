"""Start-up: importing the service registers the CERT message types and their handlers with the exchange."""

from __future__ import annotations

import tongban.cert.service  # noqa: F401  (registers cert.request.v1 / cert.result.v1)
from tongban.web.app import Runtime


def attach(runtime: Runtime) -> None:
    """Nothing to start: CERT's work runs in the exchange's apply loop."""
