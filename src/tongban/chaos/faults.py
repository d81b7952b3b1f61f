"""The fault schedule of a run: a pure function of the seed, the duration and the nodes, so a run can be replayed.

Kinds: ``node-kill`` (SIGKILL of a node process, restarted after ``hold`` seconds), ``broker-kill`` (SIGKILL of
one of the three JetStream servers, restarted after ``hold``), ``node-pause`` (SIGSTOP of a node process for
longer than its JetStream ack wait and its PostgreSQL idle-in-transaction timeout, then SIGCONT). A node fault
hits a province or the national locator's process (``000000``, which every CERT routing and every registration
change of a migration goes through). One fault at a time, so the broker cluster always keeps its quorum of two. The fault wrapper's drop, duplicate, delay and
reorder run all along inside the node processes (``TONGBAN_EXCHANGE_FAULT_*``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

KINDS = ("node-pause", "broker-kill", "node-kill")
#: The first faults of every schedule, in this order (kind, whose: a province or the locator), so that a short
#: run has each kind against a province and against the locator; the slow restarts come last.
FIRST = (
    ("node-pause", "locator"),
    ("broker-kill", ""),
    ("node-kill", "locator"),
    ("node-kill", "province"),
    ("node-pause", "province"),
)


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start of the operations
    kind: str
    target: str  # a node code, or "nats-<i>"
    hold: float  # seconds down or stopped

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def schedule(
    seed: int, duration: float, nodes: list[str], *, past_timeouts_s: float, locator: str | None = None
) -> list[Fault]:
    """The faults of a run of ``duration`` seconds; a node pause lasts longer than ``past_timeouts_s``. With
    ``locator`` (its node code), node faults hit the locator's process too: the first pause and the first kill,
    and later as often as any one province."""
    rng = random.Random(f"chaos-faults-{seed}")
    faults: list[Fault] = []
    first = FIRST if locator is not None else (("node-pause", ""), ("broker-kill", ""), ("node-kill", ""))
    every = [*nodes, locator] if locator is not None else list(nodes)
    t = rng.uniform(2.0, 5.0)
    while t < duration - 1.0:
        if len(faults) < len(first):
            kind, whose = first[len(faults)]
        else:
            kind, whose = rng.choice(KINDS), ""
        if kind == "broker-kill":
            target, hold = f"nats-{rng.randrange(3)}", rng.uniform(2.0, 6.0)
        else:
            if whose == "locator" and locator is not None:
                target = locator
            else:
                target = rng.choice(nodes if whose == "province" else every)
            slack = rng.uniform(0.5, 3.0) if kind == "node-kill" else rng.uniform(0.5, 2.0)
            hold = slack if kind == "node-kill" else past_timeouts_s + slack
        faults.append(Fault(round(t, 2), kind, target, round(hold, 2)))
        t += hold + rng.uniform(4.0, 9.0)
    return faults


@dataclass
class Event:
    at: str  # UTC wall time
    t: float  # seconds after the start of the operations
    what: str
    target: str


class FaultActions:
    """What the injector does to the cluster (the orchestrator implements it)."""

    def __init__(
        self,
        *,
        kill_node: Callable[[str], None],
        restart_node: Callable[[str], None],
        pause_node: Callable[[str], None],
        resume_node: Callable[[str], None],
        kill_broker: Callable[[int], None],
        restart_broker: Callable[[int], None],
        wait_node: Callable[[str], None] | None = None,
    ) -> None:
        """``restart_node`` starts the process again; ``wait_node``, when given, waits until it is ready, in a
        thread of its own, so that the schedule goes on meanwhile (a restart takes 7–30 s on a loaded machine);
        a later fault against the same node waits for it first."""
        self.kill_node, self.restart_node, self.wait_node = kill_node, restart_node, wait_node
        self.pause_node, self.resume_node = pause_node, resume_node
        self.kill_broker, self.restart_broker = kill_broker, restart_broker


class Injector:
    """Runs a schedule in a thread; ``stop()`` ends it after undoing the fault in progress."""

    def __init__(
        self, faults: list[Fault], actions: FaultActions, on_event: Callable[[Event], None] | None = None
    ) -> None:
        self.faults = faults
        self.actions = actions
        self.on_event = on_event
        self.events: list[Event] = []
        self.errors: list[str] = []
        self.done = 0  # faults of the schedule carried out (the rest fell after the end of the operations)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-faults", daemon=True)
        self._t0 = 0.0
        self._lock = threading.Lock()
        self._starting: dict[str, threading.Thread] = {}  # node -> the thread waiting for its restart

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread.start()

    def stop(self, timeout: float = 120.0) -> None:
        self._stop.set()
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)
        for waiting in list(self._starting.values()):
            waiting.join(timeout)

    def _ready(self, target: str) -> None:
        """Wait for a node process that was started again (in a thread of its own)."""
        assert self.actions.wait_node is not None
        try:
            self.actions.wait_node(target)
            self._event("restarted node", target)
        except Exception as exc:
            with self._lock:
                self.errors.append(f"node-kill {target}: {exc}")
            self._event(f"error: {exc}", target)

    def _event(self, what: str, target: str) -> None:
        with self._lock:
            e = Event(
                datetime.now(UTC).isoformat(timespec="milliseconds"),
                round(time.monotonic() - self._t0, 2),
                what,
                target,
            )
            self.events.append(e)
            if self.on_event is not None:
                self.on_event(e)

    def _run(self) -> None:
        a = self.actions
        for f in self.faults:
            if self._stop.wait(max(0.0, self._t0 + f.at - time.monotonic())):
                return
            waiting = self._starting.pop(f.target, None)
            if waiting is not None:  # the node's restart first
                waiting.join()
                if self._stop.is_set():
                    return
            try:
                if f.kind == "node-kill":
                    a.kill_node(f.target)
                    self._event("SIGKILL node", f.target)
                    self._stop.wait(f.hold)  # the restart happens also when stopping
                    a.restart_node(f.target)
                    if a.wait_node is None:
                        self._event("restarted node", f.target)
                    else:
                        t = threading.Thread(
                            target=self._ready,
                            args=(f.target,),
                            name=f"chaos-restart-{f.target}",
                            daemon=True,
                        )
                        self._starting[f.target] = t
                        t.start()
                elif f.kind == "node-pause":
                    a.pause_node(f.target)
                    self._event("SIGSTOP node", f.target)
                    self._stop.wait(f.hold)
                    a.resume_node(f.target)
                    self._event("SIGCONT node", f.target)
                else:
                    index = int(f.target.split("-")[1])
                    a.kill_broker(index)
                    self._event("SIGKILL broker", f.target)
                    self._stop.wait(f.hold)
                    a.restart_broker(index)
                    self._event("restarted broker", f.target)
            except Exception as exc:  # a fault that could not be undone is a finding of the run
                with self._lock:
                    self.errors.append(f"{f.kind} {f.target}: {exc}")
                self._event(f"error: {exc}", f.target)
            self.done += 1
