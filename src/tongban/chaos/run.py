"""One chaos run: set up, operate under faults, quiesce, classify, check, tear down.

1. A national directory for ``nodes`` provinces in a temporary data dir; a PostgreSQL database per node
   (``tongban_chaos_<seed>_<code>``), migrated and loaded by the workload; a three-server JetStream cluster
   with the exchange's stream on three replicas; each node as a ``tongban serve --node`` process whose
   transport is wrapped in the fault wrapper (drop, duplicate, delay, reorder).
2. For ``duration`` seconds: operations with unique ids, ``concurrency`` at a time, at ``rate_per_s`` on
   average (intervals from the seed), while the injector runs the seed's fault schedule.
3. Quiesce: the schedule stops (the fault in progress is undone), every process runs again, and the run waits
   until every node's outbox is receipted, its inbox applied and every accepted operation ended.
4. Classify every operation, look for effects nobody asked for, run ``tongban check`` if it exists.
5. Stop everything (also on errors and Ctrl-C) and drop the databases.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tongban.chaos.cluster import Cluster, NodeProcess, exchange_settings
from tongban.chaos.faults import Event, FaultActions, Injector, schedule
from tongban.chaos.settings import ChaosSettings
from tongban.chaos.workload import (
    FAILURES,
    WORKLOADS,
    Operation,
    RunContext,
    Verdict,
    Window,
    Workload,
    node_codes,
)
from tongban.core.db import Database

Say = Callable[[str], None]
#: How many times a node process that exits while starting is started again before the run gives up.
START_RETRIES = 5


@dataclass
class ChaosResult:
    seed: int
    duration_s: float
    nodes: list[str]
    workload: str
    started_at: str
    elapsed_s: float = 0.0
    operations: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # operations by kind (cert.kinship, mig.move, ...)
    outcomes: dict[str, int] = field(default_factory=dict)
    findings: list[dict[str, str]] = field(default_factory=list)  # lost, duplicated, unexpected operations
    unexpected_effects: list[str] = field(default_factory=list)
    exchange: dict[str, dict[str, int]] = field(default_factory=dict)  # per node: outbox/inbox states
    stream: dict[str, Any] = field(default_factory=dict)  # the exchange's stream as the cluster reports it
    quiesced: bool = False
    quiesce_s: float = 0.0
    fault_schedule: list[dict[str, Any]] = field(default_factory=list)
    fault_events: list[dict[str, Any]] = field(default_factory=list)
    fault_errors: list[str] = field(default_factory=list)
    faults_done: int = 0  # scheduled faults carried out before the operations ended
    faults_carried_out: dict[str, int] = field(default_factory=dict)  # by kind and whom ("node-kill locator")
    manual_move_out: list[str] = field(default_factory=list)  # origins whose clerk moves out by hand
    # Node processes started again after exiting while starting (as a supervisor would), by node.
    supervised_restarts: dict[str, int] = field(default_factory=dict)
    clerks: dict[str, Any] = field(default_factory=dict)  # moves out by hand, reissues asked, clerk errors
    transport_faults: dict[str, float] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)
    # What the run ran with, and how long each phase took (wall seconds) at which load.
    rate_per_s: float = 0.0
    concurrency: int = 0
    # Seconds the arrivals waited because the submitters were ``max_waiting`` operations behind.
    arrivals_held_s: float = 0.0
    quiesce_limit_s: float = 0.0  # the quiesce's limit: the setting, raised for a backlog (below)
    backlog: int = 0  # messages not yet receipted or applied when the operations ended
    clerk_backlog: int = 0  # cases and tasks waiting for the workload's clerks when the operations ended
    phases_s: dict[str, float] = field(default_factory=dict)  # setup, operations, quiesce, classify, check
    load_average: dict[str, list[float]] = field(default_factory=dict)  # at start, end of operations, end
    replay: str = ""
    logs: str | None = None

    @property
    def failed(self) -> bool:
        bad = sum(self.outcomes.get(k, 0) for k in FAILURES)
        return bool(
            bad
            or self.unexpected_effects
            or not self.quiesced
            or self.fault_errors
            or self.check.get("status") == "findings"
            or self.check.get("status") == "unreadable"
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = not self.failed
        return out


def _exchange_states(db: Database) -> dict[str, int]:
    """Rows of a node's outbox and inbox by state, and the envelopes it refused by reason."""
    from tongban.exchange.tables import InboxRow, OutboxRow, RejectionRow

    with db.session() as s:
        out = s.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all()
        inn = s.execute(select(InboxRow.state, func.count()).group_by(InboxRow.state)).all()
        refused = s.execute(select(RejectionRow.reason, func.count()).group_by(RejectionRow.reason)).all()
    return (
        {f"outbox {k}": int(v) for k, v in out}
        | {f"inbox {k}": int(v) for k, v in inn}
        | {f"refused {k}": int(v) for k, v in refused}
    )


def _drained(states: dict[str, int]) -> bool:
    from tongban.exchange import store

    open_out = sum(states.get(f"outbox {k}", 0) for k in (store.OUT_QUEUED, store.OUT_SENT, store.OUT_PARKED))
    open_in = sum(states.get(f"inbox {k}", 0) for k in (store.IN_RECEIVED, store.IN_WAITING, store.IN_PARKED))
    return open_out == 0 and open_in == 0


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _backlog(states: dict[str, int]) -> int:
    from tongban.exchange import store

    return sum(states.get(f"outbox {k}", 0) for k in (store.OUT_QUEUED, store.OUT_SENT)) + sum(
        states.get(f"inbox {k}", 0) for k in (store.IN_RECEIVED, store.IN_WAITING)
    )


def seed_locator_from(db_urls: dict[str, str], locator_url: str, data_dir: Path) -> int:
    """Seed the locator's database with everyone actively registered in the nodes' databases (loaded before
    any exchange ran, so nobody was reported), as ``tongban nation init`` does; how many were added."""
    from datetime import time as dt_time

    from tongban.exchange.locator import locator_key, seed_locator
    from tongban.registry.domain import RegistrationStatus
    from tongban.registry.tables import Person, PersonState

    registered: list[tuple[str, str, datetime]] = []
    for code, url in db_urls.items():
        db = Database(url)
        try:
            with db.session() as s:
                for id_number, since in s.execute(
                    select(Person.id_number, PersonState.since)
                    .join(PersonState, PersonState.person_id == Person.id)
                    .where(PersonState.status == RegistrationStatus.ACTIVE.value)
                ):
                    registered.append((id_number, code, datetime.combine(since, dt_time(), UTC)))
        finally:
            db.dispose()
    locator = Database(locator_url)
    try:
        with locator.transaction() as s:
            return seed_locator(s, key=locator_key(data_dir), registered=registered, now=datetime.now(UTC))
    finally:
        locator.dispose()


def run_check(db_urls: dict[str, str], data_dir: Path) -> dict[str, Any]:
    """``tongban check --node CODE=URL ... --json`` when the checker exists; its status and findings."""
    if importlib.util.find_spec("tongban.core.checks") is None:
        return {
            "status": "not-available",
            "line": "checker not available (tongban.core.checks is not installed)",
        }
    cmd = [sys.executable, "-m", "tongban", "check", "--json", "--data-dir", str(data_dir)]
    for code, url in db_urls.items():
        cmd += ["--node", f"{code}={url}"]
    env = {**os.environ, "TONGBAN_DATA_DIR": str(data_dir)}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)  # noqa: S603 - our own command
    except subprocess.TimeoutExpired:
        return {"status": "unreadable", "line": "tongban check did not finish in 300 s"}
    status = {0: "clean", 1: "findings", 2: "unreadable"}.get(proc.returncode, "unreadable")
    report: Any
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = proc.stdout[-2000:]
    return {"status": status, "exit": proc.returncode, "report": report, "stderr": proc.stderr[-2000:]}


def run_chaos(
    *,
    seed: int,
    duration: float,
    nodes: int = 2,
    workload: str = "mixed",
    settings: ChaosSettings | None = None,
    root: Path | None = None,
    keep: bool = False,
    say: Say | None = None,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> ChaosResult:
    """Run chaos for ``duration`` seconds; ``say`` gets progress lines, ``on_progress(submitted, accepted,
    failed_submissions)`` the counts."""
    settings = settings or ChaosSettings()
    say = say or (lambda _line: None)
    codes = node_codes(nodes)
    own_root = root is None
    root = Path(tempfile.mkdtemp(prefix=f"tongban-chaos-{seed}-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    from tongban.exchange.locator import LOCATOR_CODE

    past_timeouts = max(settings.ack_wait_s, settings.pg_idle_in_transaction_timeout_s) + 1.0
    faults = schedule(seed, duration, codes, past_timeouts_s=past_timeouts, locator=LOCATOR_CODE)
    result = ChaosResult(
        seed=seed,
        duration_s=duration,
        nodes=codes,
        workload=workload,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        fault_schedule=[f.to_json() for f in faults],
        transport_faults={
            "drop": settings.fault_drop,
            "duplicate": settings.fault_duplicate,
            "delay": settings.fault_delay,
            "reorder": settings.fault_reorder,
        },
        replay=f"tongban chaos --seed {seed} --duration {duration:g} --nodes {nodes} --workload {workload}"
        + (
            f" --rate {settings.rate_per_s:g}"
            if settings.rate_per_s != ChaosSettings.model_fields["rate_per_s"].default
            else ""
        ),
        rate_per_s=settings.rate_per_s,
        concurrency=settings.concurrency,
    )
    result.load_average["start"] = _loadavg()
    (root / "faults.json").write_text(
        json.dumps(
            {"seed": seed, "duration": duration, "nodes": codes, "schedule": result.fault_schedule}, indent=1
        )
    )
    say(f"seed {seed}: {len(faults)} scheduled faults, logs in {root}")
    for f in faults:
        say(f"  t+{f.at:6.2f}s {f.kind:<11} {f.target:<7} for {f.hold:.2f}s")
    t_start = time.monotonic()
    cluster = Cluster(root=root, settings=settings, seed=seed)
    wl: Workload = WORKLOADS[workload]()
    cluster.on_close(wl.close)
    ops: list[Operation] = []
    injector: Injector | None = None
    try:
        from tongban.core import migrate
        from tongban.exchange import directory_admin

        now = datetime.now(UTC) - timedelta(minutes=5)
        directory_admin.init(cluster.data_dir, now=now)
        from tongban.chaos.workload import NAMES
        from tongban.exchange.locator import LOCATOR_NAME

        for code in codes:
            directory_admin.add_node(cluster.data_dir, code=code, name=NAMES[code], now=now)
        # The national locator routes CERT requests and follows migrations: a node process of its own.
        directory_admin.add_node(cluster.data_dir, code=LOCATOR_CODE, name=LOCATOR_NAME, now=now)
        db_urls = {code: cluster.pg.create(cluster.database_name(code)) for code in codes}
        locator_url = cluster.pg.create(cluster.database_name(LOCATOR_CODE))
        for url in [*db_urls.values(), locator_url]:
            db = Database(url)
            migrate.upgrade(db)
            db.dispose()
        planned = int(duration * settings.rate_per_s * 1.3) + 10
        say(f"databases created and migrated; loading {planned} people's households")
        # The last province's origin moves out by its clerk (the workload's), the others by themselves.
        manual = frozenset(codes[-1:])
        result.manual_move_out = sorted(manual)
        ctx = RunContext(seed, cluster.data_dir, db_urls, cluster.secret, settings.concurrency, manual)
        wl.prepare(ctx, planned)
        seeded = seed_locator_from(db_urls, locator_url, cluster.data_dir)
        say(f"locator seeded with {seeded} registrations")
        cluster.nats.start_all()
        result.stream = cluster.nats.ensure_stream(exchange_settings(settings))
        say(f"JetStream cluster up ({cluster.nats.url}), stream {result.stream}")
        cluster.add_node(LOCATOR_CODE, locator_url, faults=True).start()
        for code in codes:
            node = cluster.add_node(code, db_urls[code], faults=True)
            if code in manual:
                node.env["TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT"] = "false"
            node.start()

        def ready(n: NodeProcess) -> None:
            n.wait_ready_supervised(
                settings.start_timeout_s, retries=START_RETRIES, may_restart=lambda: not cluster.closed
            )

        for n in cluster.nodes.values():
            ready(n)
        say(
            f"{len(cluster.nodes)} node processes ready (the locator among them): "
            + ", ".join(f"{c} {n.url}" for c, n in cluster.nodes.items())
        )

        windows: list[Window] = []
        opened: dict[str, datetime] = {}

        def on_event(e: Event) -> None:
            say(f"  t+{e.t:6.2f}s {e.what} {e.target}")
            at = datetime.fromisoformat(e.at)
            if e.what.startswith(("SIGKILL", "SIGSTOP")):
                opened[e.target] = at
            elif e.target in opened:
                windows.append(
                    Window(opened.pop(e.target), at + timedelta(seconds=settings.ack_wait_s), e.target)
                )

        g = cluster.guarded
        actions = FaultActions(
            kill_node=g(lambda c: cluster.nodes[c].kill()),
            restart_node=g(lambda c: cluster.nodes[c].start()),
            # Not under the cluster's lock: the schedule goes on while a node starts again.
            wait_node=lambda c: ready(cluster.nodes[c]),
            pause_node=g(lambda c: cluster.nodes[c].pause()),
            resume_node=g(lambda c: cluster.nodes[c].resume()),
            kill_broker=g(cluster.nats.kill),
            restart_broker=g(cluster.nats.start),
        )
        injector = Injector(faults, actions, on_event)
        result.phases_s["setup"] = round(time.monotonic() - t_start, 1)
        t_ops = time.monotonic()
        held_back = [0.0]
        result.operations = _operate(wl, ops, seed, duration, settings, injector, on_progress, held_back)
        result.arrivals_held_s = round(held_back[0], 1)
        result.phases_s["operations"] = round(time.monotonic() - t_ops, 1)
        result.load_average["operations ended"] = _loadavg()
        injector.stop()
        result.fault_events = [asdict(e) for e in injector.events]
        result.fault_errors = injector.errors
        result.faults_done = injector.done
        result.faults_carried_out = dict(
            Counter(
                f.kind
                + ("" if f.kind == "broker-kill" else " locator" if f.target == LOCATOR_CODE else " province")
                for f in faults[: injector.done]
            )
        )
        for target, since in opened.items():  # a fault the stop cut short
            windows.append(Window(since, datetime.now(UTC), target))
        # Quiesce: everything runs again, then wait for outboxes, inboxes and operations to settle.
        for i, s in enumerate(cluster.nats.servers):
            if not s.running:
                cluster.nats.start(i)
        for node in cluster.nodes.values():
            if node.paused:
                node.resume()
            if not node.running:
                node.start()
                ready(node)
        say("faults stopped; quiescing (outboxes receipted, inboxes applied, operations ended)")
        q0 = time.monotonic()
        every_url = {**db_urls, LOCATOR_CODE: locator_url}
        dbs = {code: Database(url) for code, url in every_url.items()}
        try:
            # A backlog (the nodes fell behind the arrival rate) gets time in proportion to its size.
            result.backlog = sum(_backlog(_exchange_states(db)) for db in dbs.values())
            result.clerk_backlog = int(getattr(wl, "backlog", lambda: 0)())
            result.quiesce_limit_s = max(
                settings.quiesce_timeout_s,
                result.backlog * settings.quiesce_per_message_s
                + result.clerk_backlog * settings.quiesce_per_clerk_step_s,
            )
            say(
                f"backlog of {result.backlog} messages and {result.clerk_backlog} clerk steps; "
                f"quiescing for up to {result.quiesce_limit_s:.0f} s"
            )
            result.quiesced = _quiesce(wl, ops, list(dbs.values()), result.quiesce_limit_s)
            result.quiesce_s = round(time.monotonic() - q0, 1)
            result.phases_s["quiesce"] = result.quiesce_s
            result.exchange = {code: _exchange_states(db) for code, db in dbs.items()}
        finally:
            for db in dbs.values():
                db.dispose()
        result.kinds = dict(Counter(op.kind for op in ops))
        result.supervised_restarts = {
            c: n.supervised_restarts for c, n in cluster.nodes.items() if n.supervised_restarts
        }
        from tongban.chaos.workload import MigrationWorkload

        mig_wl = getattr(wl, "mig", wl)
        if isinstance(mig_wl, MigrationWorkload):
            result.clerks = {
                "moved out by hand": mig_wl.moved_out_by_hand,
                "reissues asked": len(mig_wl.reissue_asked),
                "errors": dict(mig_wl.clerk_errors),
            }
        t_cls = time.monotonic()
        verdicts, unexpected = wl.classify(ops, windows)
        result.phases_s["classify"] = round(time.monotonic() - t_cls, 1)
        result.outcomes = dict(Counter(v.outcome for v in verdicts))
        result.findings = [asdict(v) for v in verdicts if v.outcome in FAILURES]
        result.unexpected_effects = unexpected
        say("checking the invariants")
        # The node processes keep running: the checker pauses their relays and drains what is in flight.
        t_check = time.monotonic()
        result.check = run_check(every_url, cluster.data_dir)
        result.phases_s["check"] = round(time.monotonic() - t_check, 1)
    finally:
        if injector is not None:
            injector.stop()  # before closing: no fault action runs against what is being stopped
        result.elapsed_s = round(time.monotonic() - t_start, 1)
        result.load_average["end"] = _loadavg()
        cluster.close()
        if own_root and not keep and not result.failed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            result.logs = str(root)
    return result


def _operate(
    wl: Workload,
    ops: list[Operation],
    seed: int,
    duration: float,
    settings: ChaosSettings,
    injector: Injector,
    on_progress: Callable[[int, int, int], None] | None,
    held_back: list[float],
) -> int:
    rng = random.Random(f"chaos-ops-{seed}")
    clerk_backlog: Callable[[], int] = getattr(wl, "backlog", lambda: 0)
    lock = threading.Lock()
    counts = [0, 0, 0]  # submitted, accepted, failed submissions

    def submit(op: Operation) -> None:
        op.submitted_at = datetime.now(UTC)
        wl.submit(op)
        with lock:
            counts[1 if op.ref is not None else 2] += 1
            if on_progress is not None:
                on_progress(*counts)

    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="chaos-op")
    futures: list[Future[None]] = []
    injector.start()
    t0 = time.monotonic()
    try:
        index = 0
        while time.monotonic() - t0 < duration:
            # Arrivals wait while the submitters are this far behind (a machine slower than the rate): the
            # operations end with the duration instead of a queue that outlasts it by hours.
            held = time.monotonic()
            while (
                counts[1] + counts[2] + settings.max_waiting <= counts[0]
                or clerk_backlog() > settings.max_clerk_backlog
            ) and time.monotonic() - t0 < duration:
                time.sleep(0.05)
            held_back[0] += time.monotonic() - held
            if time.monotonic() - t0 >= duration:
                break
            op = wl.next_operation(index, rng)
            if op is None:
                break
            op.id = f"{seed}-{index}"
            ops.append(op)
            futures.append(pool.submit(submit, op))
            with lock:
                counts[0] += 1
            index += 1
            time.sleep(
                min(rng.expovariate(settings.rate_per_s), max(0.0, duration - (time.monotonic() - t0)))
            )
        for f in futures:
            f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return len(ops)


def _quiesce(wl: Workload, ops: list[Operation], dbs: list[Database], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    calm = 0
    while time.monotonic() < deadline:
        drained = all(_drained(_exchange_states(db)) for db in dbs)
        if drained and wl.settled(ops):
            calm += 1
            if calm >= 3:  # three quiet looks in a row: nothing is left in flight
                return True
        else:
            calm = 0
        time.sleep(0.5)
    return False


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    return [f"{v.op}: {v.outcome} {v.detail}".rstrip() for v in verdicts]
