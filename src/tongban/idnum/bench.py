"""``tongban bench idcheck``: ID-number validations per second against the bare check-character arithmetic.

The figure is ``parse_id`` (normalise, characters, address code in the divisions catalog, calendar date, check
character) over a pool of pre-generated synthetic numbers, most valid and some invalid in each way. The
baseline is the same loop over the same pool doing only the MOD 11-2 arithmetic, so the ratio says what the
full validation costs relative to the cheapest part of it on this machine, whatever the machine.
"""

from __future__ import annotations

import random
import time
from datetime import date, timedelta
from typing import Annotated

import typer

from tongban.bench.harness import BenchResult, Measure, progress, rate, report
from tongban.divisions.domain import Level, get_catalog
from tongban.idnum.domain import InvalidIdNumber, make_id_number, mod11_2, parse_id

#: Share of invalid numbers in the pool.
INVALID_SHARE = 0.1
TODAY = date(2025, 1, 1)


def make_pool(size: int, *, seed: int = 11643) -> list[str]:
    """Synthetic numbers: valid ones under county codes in use, and ~10% invalid (check, date, area, length)."""
    rng = random.Random(seed)
    catalog = get_catalog()
    areas = [
        d.code for p in catalog.provinces() for d in catalog.counties_of(p.code) if d.level is Level.COUNTY
    ]
    start = date(1930, 1, 1)
    span = (date(2024, 12, 31) - start).days
    pool: list[str] = []
    for i in range(size):
        number = make_id_number(
            rng.choice(areas), start + timedelta(days=rng.randrange(span)), rng.randint(1, 999)
        )
        if rng.random() < INVALID_SHARE:
            kind = i % 4
            if kind == 0:  # wrong check character
                right = number[17]
                number = number[:17] + ("0" if right != "0" else "1")
            elif kind == 1:  # 31 February
                number = number[:10] + "0231" + number[14:]
            elif kind == 2:  # an address code that never existed
                number = "999999" + number[6:]
            else:  # truncated
                number = number[:16]
        pool.append(number)
    return pool


def run(n: int, *, batch: int = 1000) -> BenchResult:
    """Validate ``n`` numbers (cycling over a pool) with ``parse_id``, and run the arithmetic-only baseline."""
    pool = make_pool(min(n, 20_000))
    get_catalog()  # loaded before timing: the figure is steady-state validation
    valid = invalid = 0
    total_s = base_s = 0.0
    # Figure and baseline alternate batch by batch over the same numbers, so that load from other processes
    # on the machine weighs on both alike.
    with progress("idcheck: parse_id and baseline", n) as advance:
        done = 0
        while done < n:
            count = min(batch, n - done)
            chunk = [pool[(done + k) % len(pool)] for k in range(count)]
            started = time.perf_counter()
            for number in chunk:
                try:
                    parse_id(number, today=TODAY)
                    valid += 1
                except InvalidIdNumber:
                    invalid += 1
            total_s += time.perf_counter() - started
            started = time.perf_counter()
            for number in chunk:
                mod11_2(number[:17])
            base_s += time.perf_counter() - started
            done += count
            advance(count)
    figure = rate(n, total_s)
    baseline = rate(n, base_s)
    return BenchResult(
        workload="idcheck",
        figure=Measure("validations per second", round(figure, 1), "1/s"),
        baseline=Measure("check-character computations per second", round(baseline, 1), "1/s"),
        ratio=round(figure / baseline, 4) if baseline else 0.0,
        details={"n": n, "pool": len(pool), "valid": valid, "invalid": invalid},
    )


def register(bench_app: typer.Typer) -> None:
    @bench_app.command("idcheck")
    def idcheck(
        n: Annotated[
            int, typer.Option("--n", min=1, help="Numbers to validate (and to compute for the baseline).")
        ] = 200_000,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    ) -> None:
        """ID-number validations per second, against the same loop doing only the check-character arithmetic."""
        report(run(n), as_json)
