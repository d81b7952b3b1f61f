"""Start-up: load and validate the cases data once, and hand it to every node of the runtime."""

from __future__ import annotations

from tongban.cases.setup import load_setup
from tongban.web.app import Runtime


def attach(runtime: Runtime) -> None:
    setup = load_setup(runtime.settings)
    runtime.extras["cases"] = setup
    for node in runtime.nodes.values():
        node.services["cases"] = setup
