"""What every workload reports, and how.

A workload measures its figure and, in the same run, a baseline of this machine, and reports the ratio
between them, so figures from different machines and days can be compared. Output is a Rich summary, or
with ``--json`` one JSON object on stdout (progress goes to stderr either way).
"""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

stderr = Console(stderr=True)


@dataclass(frozen=True)
class Measure:
    name: str
    value: float
    unit: str


@dataclass
class BenchResult:
    workload: str
    figure: Measure
    baseline: Measure
    ratio: float
    latency_ms: dict[str, float] | None = None
    machine: dict[str, Any] = field(default_factory=lambda: machine_info())
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.latency_ms is None:
            out.pop("latency_ms")
        return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 of latency samples in milliseconds."""
    if not samples_ms:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    if len(samples_ms) == 1:
        v = float(samples_ms[0])
        return {"p50": v, "p95": v, "p99": v}
    q = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p95": round(q[94], 3), "p99": round(q[98], 3)}


@contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr; yields ``advance(n)``."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if total:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


_SPACES = re.compile(r"\s+")
_BOUND_LIST = re.compile(r"\((?:\?|%\(\w+\)s|\$\d+)(?:, (?:\?|%\(\w+\)s|\$\d+))+\)")
_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_\w+\]")


@dataclass
class SqlProfile:
    """Statements run on any engine while profiling, by their text (bound lists collapsed): how many, and the
    time spent in the driver (``cursor.execute``, so the database's work plus the round trip, not SQLAlchemy's
    own Python). Never the parameters: they may be personal data."""

    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, statement: str, elapsed: float) -> None:
        key = _POSTCOMPILE.sub("(...)", _BOUND_LIST.sub("(...)", _SPACES.sub(" ", statement).strip()))
        self.counts[key] = self.counts.get(key, 0) + 1
        self.seconds[key] = self.seconds.get(key, 0.0) + elapsed

    def summary(self, top: int, per: int) -> dict[str, Any]:
        """Totals, and the ``top`` statements by time, each per unit of work (``per``: migrations, ...)."""
        per = max(per, 1)
        ranked = sorted(self.seconds, key=lambda k: -self.seconds[k])[:top]
        return {
            "statements_per_unit": round(sum(self.counts.values()) / per, 1),
            "driver_ms_per_unit": round(1000 * sum(self.seconds.values()) / per, 2),
            "top": [
                {
                    "sql": key[:300],
                    "per_unit": round(self.counts[key] / per, 2),
                    "ms_per_unit": round(1000 * self.seconds[key] / per, 3),
                    "us_each": round(1e6 * self.seconds[key] / self.counts[key], 1),
                }
                for key in ranked
            ],
        }


@contextmanager
def sql_profile(enabled: bool = True) -> Iterator[SqlProfile]:
    """Time every statement any engine of this process runs while the block runs (``enabled=False``: an
    empty profile and no listeners, so a workload can take the option without a branch)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    prof = SqlProfile()
    if not enabled:
        yield prof
        return
    started: dict[int, list[float]] = {}

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started.setdefault(id(cursor), []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        stack = started.get(id(cursor))
        if stack:
            prof.add(statement, time.perf_counter() - stack.pop())

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield prof
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(result: BenchResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    console = Console()
    table = Table(title=f"tongban bench {result.workload}", show_header=False)
    table.add_row("figure", f"{result.figure.name}: {result.figure.value:,.1f} {result.figure.unit}")
    table.add_row("baseline", f"{result.baseline.name}: {result.baseline.value:,.1f} {result.baseline.unit}")
    table.add_row("ratio", f"{result.ratio:.3f}")
    if result.latency_ms:
        table.add_row("latency (ms)", ", ".join(f"{k} {v:.2f}" for k, v in result.latency_ms.items()))
    for key, value in result.details.items():
        table.add_row(key, str(value))
    table.add_row(
        "machine",
        f"{result.machine['cpu']} · {result.machine['cores']} cores · {result.machine['memory_gib']} GiB",
    )
    table.add_row("at", result.at)
    console.print(table)
