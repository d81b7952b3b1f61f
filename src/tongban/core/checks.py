"""The invariant checker's framework: findings, the nation as the checks see it, draining, and the report.

Capabilities contribute checks through a module ``tongban.<capability>.checks`` exposing ``CHECKS``: callables
taking a ``NationView`` (every node's context by code, and the national locator's) and returning ``Finding``
objects. A finding names a check id (``person.active-in-several``), the node where it was seen, a subject that
is never personal (an internal person id as ``person:<node>:<id>``, a case number, a paper number, a locator
digest prefix) and an English detail without names or ID numbers.

Before reading, the checker lets in-flight messages drain (DESIGN.md, "Storage, audit, tests"): with an
embedded data dir nothing else runs, so it runs the exchange itself until every outbox message is receipted
or parked and every inbox message applied (``drain_embedded``); with nodes running in processes of their
own it pauses their relays (``tongban.exchange.control``) and waits until nothing published is unreceipted
and every inbox row is applied (``paused_relays``). What did not drain is reported under ``drained``; checks
that judge a case leave alone cases that still have a message in flight (``NationView.pending_case_refs``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.core.plugins import capability_modules

log = logging.getLogger("tongban.check")

LOCATOR_CODE = "000000"


class CheckSettings(BaseSettings):
    """Settings of ``tongban check`` (``TONGBAN_CHECK_*``)."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_CHECK_", env_file=".env", extra="ignore")

    # How long the checker waits for in-flight messages to drain before it reads anyway (and says so).
    drain_timeout_s: float = 60.0
    # How often it looks at the outboxes and inboxes while draining.
    drain_poll_s: float = 0.1
    # A pause of the relays expires by itself after this long (a checker that dies does not stop the nation).
    pause_max_s: float = 600.0
    # A materials wait whose deadline passed longer ago than this, on a case still open, is stuck.
    stuck_grace_s: float = 86400.0
    # Verify each node's audit chain too (reads every sealed row).
    audit: bool = True


@dataclass(frozen=True)
class Finding:
    check: str  # a stable id, e.g. ``person.active-in-several``
    node: str  # the node where it was seen
    subject: str  # never personal: ``person:<node>:<id>``, a case number, a paper number, a digest prefix
    detail: str  # English, without names or ID numbers

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class NationView:
    """What the checks read: the nodes by code (the locator apart), read-only sessions, and the context."""

    nodes: Mapping[str, NodeContext]
    locator: NodeContext | None = None
    locator_key: bytes | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    settings: CheckSettings = field(default_factory=CheckSettings)
    # Case numbers with a message still queued or unreceipted somewhere: not judged by the case checks.
    pending_case_refs: frozenset[str] = frozenset()
    # What one check read and another reuses (e.g. every person's standing), by a key of the reader's.
    memo: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def session(self, code: str) -> Iterator[Session]:
        node = self.locator if code == LOCATOR_CODE and self.locator is not None else self.nodes[code]
        with node.db.session() as s:
            yield s

    def has_table(self, code: str, table: str) -> bool:
        node = self.locator if code == LOCATOR_CODE and self.locator is not None else self.nodes[code]
        return bool(inspect(node.db.engine).has_table(table))


Check = Callable[[NationView], Iterable[Finding]]
F = TypeVar("F", bound=Callable[..., Any])


def check(*ids: str) -> Callable[[F], F]:
    """Declare the finding ids a check may report (so the summary counts them, zero included)."""

    def mark(fn: F) -> F:
        fn.check_ids = ids  # type: ignore[attr-defined]
        return fn

    return mark


def all_checks() -> list[Check]:
    """Every capability's ``CHECKS``, in capability name order."""
    found: list[Check] = []
    for module in capability_modules("checks"):
        found.extend(getattr(module, "CHECKS", []))
    return found


# -- draining ------------------------------------------------------------------------------------------------


@dataclass
class Backlog:
    queued: int = 0  # outbox rows never sent
    unreceipted: int = 0  # outbox rows sent, awaiting their receipt
    inbox_open: int = 0  # inbox rows received or waiting, not applied
    outbox_parked: int = 0
    inbox_parked: int = 0

    @property
    def pending(self) -> int:
        return self.queued + self.unreceipted + self.inbox_open


def backlog(node: NodeContext) -> Backlog:
    """The node's exchange backlog, two grouped queries (no exchange tables: nothing pending)."""
    from tongban.exchange import store
    from tongban.exchange.tables import InboxRow, OutboxRow

    b = Backlog()
    with node.db.session() as s:
        for state, n in s.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)):
            if state == store.OUT_QUEUED:
                b.queued = int(n)
            elif state == store.OUT_SENT:
                b.unreceipted = int(n)
            elif state == store.OUT_PARKED:
                b.outbox_parked = int(n)
        for state, n in s.execute(select(InboxRow.state, func.count()).group_by(InboxRow.state)):
            if state in (store.IN_RECEIVED, store.IN_WAITING):
                b.inbox_open += int(n)
            elif state == store.IN_PARKED:
                b.inbox_parked = int(n)
    return b


@dataclass
class DrainReport:
    mode: str  # embedded | paused | none
    complete: bool = True  # nothing left in flight and nothing parked
    seconds: float = 0.0
    pending: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> what is still in flight
    parked: dict[str, dict[str, int]] = field(default_factory=dict)  # node -> what an operator must decide
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _settled(nodes: Sequence[NodeContext], *, paused: bool) -> tuple[bool, dict[str, Backlog]]:
    logs = {n.code: backlog(n) for n in nodes}
    if paused:  # new messages are held back on purpose: only what was published must be accounted for
        done = all(b.unreceipted == 0 and b.inbox_open == 0 for b in logs.values())
    else:
        done = all(b.pending == 0 for b in logs.values())
    return done, logs


def _fill(report: DrainReport, logs: Mapping[str, Backlog], *, paused: bool) -> None:
    for code, b in sorted(logs.items()):
        pending = {"queued": 0 if paused else b.queued, "unreceipted": b.unreceipted, "inbox": b.inbox_open}
        if any(pending.values()):
            report.pending[code] = pending
        if b.outbox_parked or b.inbox_parked:
            report.parked[code] = {"outbox": b.outbox_parked, "inbox": b.inbox_parked}


def _wait(
    nodes: Sequence[NodeContext], report: DrainReport, settings: CheckSettings, *, paused: bool, t0: float
) -> None:
    deadline = t0 + settings.drain_timeout_s
    confirmed = not paused
    while True:
        done, logs = _settled(nodes, paused=paused)
        if done and not confirmed:
            # A relay that read its due rows just before the pause took effect may still be publishing them:
            # settled twice, a settling period apart, is settled.
            from tongban.exchange.control import SETTLE_S

            confirmed = True
            time.sleep(SETTLE_S)
            continue
        if done or time.monotonic() >= deadline:
            break
        confirmed = not paused
        time.sleep(settings.drain_poll_s)
    report.seconds = round(time.monotonic() - t0, 3)
    _fill(report, logs, paused=paused)
    report.complete = done and not report.parked


def drain_embedded(
    nodes: Sequence[NodeContext],
    data_dir: Path,
    *,
    nats_url: str | None = None,
    settings: CheckSettings | None = None,
) -> DrainReport:
    """Run the exchange of ``nodes`` (nothing else running) until nothing is in flight, or the timeout."""
    from tongban.exchange import control
    from tongban.exchange.directory import DIRECTORY_FILE
    from tongban.exchange.jobs import ExchangeRunner
    from tongban.exchange.runtime import node_exchange, transport_for
    from tongban.exchange.settings import ExchangeSettings

    settings = settings or CheckSettings()
    report = DrainReport(mode="embedded")
    t0 = time.monotonic()
    if not (data_dir / DIRECTORY_FILE).exists():
        report.mode = "none"
        _wait(nodes, report, settings.model_copy(update={"drain_timeout_s": 0}), paused=False, t0=t0)
        return report
    base = ExchangeSettings()
    # Re-send soon and often while draining: a message published before to a transport that is gone (the
    # embedded one lives in memory) is only recovered by its re-send.
    ex_settings = base.model_copy(
        update={
            "resend_initial_s": min(base.resend_initial_s, 0.5),
            "resend_max_s": min(base.resend_max_s, 2.0),
            "waiting_retry_s": min(base.waiting_retry_s, 0.2),
            "apply_retry_s": min(base.apply_retry_s, 0.2),
            "poll_interval_s": min(base.poll_interval_s, 0.05),
        }
    )
    exchanges = [node_exchange(node, data_dir, ex_settings) for node in nodes]
    for node in nodes:
        control.resume_relay(node.db)  # a pause left by a checker that died: nothing else runs here
        control.resend_now(node.db, now=node.clock.now())
    runner = ExchangeRunner(exchanges, lambda: transport_for(nats_url, ex_settings))
    try:
        runner.start()
    except Exception as exc:
        report.error = f"the exchange could not start: {type(exc).__name__}"
        report.complete = False
        _fill(report, {n.code: backlog(n) for n in nodes}, paused=False)
        return report
    try:
        _wait(nodes, report, settings, paused=False, t0=t0)
    finally:
        runner.stop()
    return report


@contextlib.contextmanager
def paused_relays(
    nodes: Sequence[NodeContext], *, settings: CheckSettings | None = None, by: str = "tongban check"
) -> Iterator[DrainReport]:
    """Pause the relays of nodes running elsewhere, wait for what was published to be applied and receipted,
    yield the drain report (read the nodes then), and resume the relays however the block ends."""
    from tongban.exchange import control

    settings = settings or CheckSettings()
    report = DrainReport(mode="paused")
    t0 = time.monotonic()
    done: list[NodeContext] = []
    try:
        for node in nodes:
            control.pause_relay(node.db, now=node.clock.now(), for_s=settings.pause_max_s, by=by)
            done.append(node)
        time.sleep(control.SETTLE_S)  # a relay reads the switch at most every CACHE_S
        _wait(nodes, report, settings, paused=True, t0=t0)
        yield report
    finally:
        for node in done:
            try:
                control.resume_relay(node.db)
            except Exception as exc:  # the pause expires by itself; say so
                log.warning("could not resume the relay of %s: %s", node.code, type(exc).__name__)


def pending_case_refs(nodes: Iterable[NodeContext]) -> frozenset[str]:
    """Case numbers named by outbox rows still queued or unreceipted on any node."""
    from tongban.exchange import store
    from tongban.exchange.tables import OutboxRow

    refs: set[str] = set()
    for node in nodes:
        with node.db.session() as s:
            refs.update(
                r
                for r in s.scalars(
                    select(OutboxRow.case_ref)
                    .where(OutboxRow.state.in_((store.OUT_QUEUED, store.OUT_SENT)))
                    .where(OutboxRow.case_ref.is_not(None))
                    .distinct()
                )
                if r
            )
    return frozenset(refs)


# -- the report ----------------------------------------------------------------------------------------------


@dataclass
class Report:
    nodes: list[str]
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    drained: DrainReport | None = None
    errors: list[str] = field(default_factory=list)  # checks or nodes that could not be read
    seconds: float = 0.0

    @property
    def drain_failed(self) -> bool:
        """Messages were still in flight when the drain gave up, or are parked."""
        return self.drained is not None and not self.drained.complete

    @property
    def ok(self) -> bool:
        return not self.findings and not self.errors and not self.drain_failed

    @property
    def exit_code(self) -> int:
        """0 clean; 2 the nodes could not be read or drained (or a check failed); else 1 on any finding."""
        if self.errors or self.drain_failed:
            return 2
        return 1 if self.findings else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "findings": [f.to_json() for f in self.findings],
            "nodes": list(self.nodes),
            "drained": self.drained.to_json() if self.drained is not None else None,
            "errors": list(self.errors),
            "seconds": self.seconds,
        }


def check_nation(
    nodes: Mapping[str, NodeContext],
    *,
    locator: NodeContext | None = None,
    locator_key: bytes | None = None,
    now: datetime | None = None,
    checks: Sequence[Check] | None = None,
    drained: DrainReport | None = None,
    settings: CheckSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run every check (or ``checks``) over the nation and collect the findings. Reads only; drains nothing:
    drain first (``drain_embedded`` / ``paused_relays``) when messages may be in flight."""
    t0 = time.perf_counter()
    provinces = {code: n for code, n in nodes.items() if code != LOCATOR_CODE}
    if locator is None and LOCATOR_CODE in nodes:
        locator = nodes[LOCATOR_CODE]
    every = [*provinces.values(), *([locator] if locator is not None else [])]
    report = Report(nodes=sorted([*provinces, *([LOCATOR_CODE] if locator is not None else [])]))
    report.drained = drained
    try:
        in_flight = pending_case_refs(every)
    except Exception as exc:
        report.errors.append(f"exchange tables unreadable: {type(exc).__name__}")
        in_flight = frozenset()
    view = NationView(
        nodes=provinces,
        locator=locator,
        locator_key=locator_key,
        now=now or datetime.now(UTC),
        settings=settings or CheckSettings(),
        pending_case_refs=in_flight,
    )
    for fn in checks if checks is not None else all_checks():
        name = getattr(fn, "__name__", repr(fn))
        for cid in getattr(fn, "check_ids", ()):
            report.counts.setdefault(cid, 0)
        if progress is not None:
            progress(name)
        try:
            found = list(fn(view))
        except Exception as exc:
            log.warning("check %s failed: %s", name, type(exc).__name__)
            report.errors.append(f"{name}: {type(exc).__name__}")  # no message: it may quote data
            continue
        for finding in found:
            report.findings.append(finding)
            report.counts[finding.check] = report.counts.get(finding.check, 0) + 1
    report.findings.sort(key=lambda f: (f.check, f.node, f.subject))
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


# -- running it over a data dir or node databases --------------------------------------------------------------


def _locator_key(data_dir: Path | None) -> bytes | None:
    from tongban.exchange.locator import KEY_FILE

    if data_dir is None or not (data_dir / KEY_FILE).exists():
        return None
    return (data_dir / KEY_FILE).read_bytes()


def run_check(
    *,
    data_dir: Path | None = None,
    node_urls: Mapping[str, str] | None = None,
    nats_url: str | None = None,
    drain: bool = True,
    settings: CheckSettings | None = None,
    node_settings: Any = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Open the nation (an embedded data dir, or node databases of processes running elsewhere), drain, check.

    With ``node_urls`` the relays of the running nodes are paused while the checker reads; otherwise the
    data dir's nodes are opened here and their exchange run until drained (nothing else may run on them).
    """
    from tongban.core.clock import SystemClock
    from tongban.core.node import NodeEntry, open_node, read_manifest
    from tongban.core.settings import Settings

    settings = settings or CheckSettings()
    base = node_settings or (Settings(data_dir=data_dir) if data_dir is not None else Settings())
    data_dir = data_dir or base.data_dir
    if node_urls:
        entries = [NodeEntry(code=c, name=c, db_url=u) for c, u in sorted(node_urls.items())]
    else:
        entries = read_manifest(data_dir) if data_dir is not None else []
    if not entries:
        return Report(nodes=[], errors=[f"no nodes: no {data_dir}/nation.json and no --node given"])
    nodes = {e.code: open_node(e, base, clock=SystemClock()) for e in entries}
    try:
        every = list(nodes.values())
        locator = nodes.get(LOCATOR_CODE)
        key = _locator_key(data_dir)

        def run(drained: DrainReport | None) -> Report:
            return check_nation(
                nodes, locator=locator, locator_key=key, drained=drained, settings=settings, progress=progress
            )

        try:
            if not drain:
                return run(None)
            if node_urls:
                if progress is not None:
                    progress("pausing relays and draining")
                with paused_relays(every, settings=settings) as drained:
                    return run(drained)
            if progress is not None:
                progress("draining the exchange")
            assert data_dir is not None
            return run(drain_embedded(every, data_dir, nats_url=nats_url, settings=settings))
        except Exception as exc:  # a node that cannot be read or drained
            log.warning("check failed: %s", type(exc).__name__)
            return Report(
                nodes=sorted(nodes), errors=[f"could not read or drain the nodes: {type(exc).__name__}"]
            )
    finally:
        for node in nodes.values():
            node.db.dispose()


def assert_clean(report: Report) -> None:
    """For tests: raise ``AssertionError`` listing the findings, errors and undrained messages, if any.

    ``assert_clean(check_nation(nodes, locator_key=...))`` after a test's steps (drain first when its
    exchange may still hold messages: ``drain_embedded`` or the test's own wait)."""
    if report.ok:
        return
    lines = [f"{f.check} at {f.node}: {f.subject}: {f.detail}" for f in report.findings[:50]]
    lines += [f"error: {e}" for e in report.errors]
    if report.drain_failed and report.drained is not None:
        lines.append(f"not drained: pending {report.drained.pending}, parked {report.drained.parked}")
    raise AssertionError("the nation breaks its invariants:\n" + "\n".join(lines))
