"""What every workload reports, and how.

A workload measures its figure and, in the same run, a baseline of this machine, and reports the ratio
between them, so figures from different machines and days can be compared. Output is a Rich summary, or
with ``--json`` one JSON object on stdout (progress goes to stderr either way).
"""

from __future__ import annotations

import json
import os
import platform
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
