"""Start-up: load and validate the cases data once, hand it to every node of the runtime, and start the
deadline sweep of the served nodes (stopped by ``detach`` when the app shuts down)."""

from __future__ import annotations

import atexit
import logging
import threading

import tongban.cases.evidence  # noqa: F401  (registers cases.evidence.request.v1 / .result.v1)
from tongban.cases.jobs import run_sweeps
from tongban.cases.settings import CasesJobSettings
from tongban.cases.setup import load_setup
from tongban.web.app import Runtime

log = logging.getLogger("tongban.cases")

SWEEPER = "cases.sweeper"
SETTINGS = "cases_settings"


class DeadlineSweeper:
    """A thread sweeping the deadlines of some nodes every ``interval_s`` seconds until stopped."""

    def __init__(self, runtime: Runtime, interval_s: float) -> None:
        self.nodes = list(runtime.nodes.values())
        self.interval_s = interval_s
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cases-deadline-sweep", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self.passes = run_sweeps(self.nodes, interval_s=self.interval_s, stop=self._stop)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass in progress (each row is its own transaction: nothing is left half done)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def attach(runtime: Runtime) -> None:
    setup = load_setup(runtime.settings)
    runtime.extras["cases"] = setup
    for node in runtime.nodes.values():
        node.services["cases"] = setup
    settings: CasesJobSettings = runtime.extras.get(SETTINGS) or CasesJobSettings()
    if settings.sweep_interval_s <= 0 or not runtime.nodes or SWEEPER in runtime.extras:
        return
    sweeper = DeadlineSweeper(runtime, settings.sweep_interval_s)
    runtime.extras[SWEEPER] = sweeper
    sweeper.start()
    atexit.register(sweeper.stop)  # the CLI's other exits; the app's shutdown calls ``detach`` first
    log.info("deadline sweep of %d node(s) every %.0fs", len(runtime.nodes), settings.sweep_interval_s)


def detach(runtime: Runtime) -> None:
    """Stop the deadline sweep (the app's shutdown)."""
    sweeper = runtime.extras.pop(SWEEPER, None)
    if isinstance(sweeper, DeadlineSweeper):
        sweeper.stop()
