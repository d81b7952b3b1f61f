"""Registry workloads: ``tongban bench load`` and ``tongban bench search``.

``load`` imports N synthetic persons (with their households, memberships, journal and search keys) through
``import_records`` (whole-file checks, then the backend's fast path), then, in the same run, copies the
very same rows, read back from that database, raw into a second fresh database with the same schema and
indexes (``COPY ... FROM STDIN`` of the text PostgreSQL itself produced; ``executemany`` on SQLite). The
ratio is raw time / our time: 1.0 would mean checking and building cost nothing.

``search`` runs name searches drawn from the node's own names (hanzi prefixes, full pinyin, initials) and
reports their latency percentiles, against exact lookups by ID number on the same node as the baseline.
"""

from __future__ import annotations

import pickle
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
import sqlalchemy as sa
import typer
from sqlalchemy.engine import make_url

from tongban.bench.harness import BenchResult, Measure, percentiles, progress, rate, report
from tongban.core import migrate
from tongban.core.clock import SystemClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.registry import queries, store
from tongban.registry.bulk import COLUMNS
from tongban.registry.importing import DEFAULT_CHUNK, import_records
from tongban.registry.names import search_keys
from tongban.registry.synthetic import synthetic_records
from tongban.registry.tables import Person

DbOpt = Annotated[str, typer.Option("--db", help="Database URL of the node to load or search.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]
NodeOpt = Annotated[str, typer.Option("--node", help="Provincial code of the synthetic node.")]


# ---------------------------------------------------------------------------------------------- load
def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def scratch_database(url: str) -> Iterator[Database]:
    """A fresh, migrated database beside ``url`` (same server, or the same directory), dropped afterwards."""
    parsed = make_url(url)
    suffix = uuid.uuid4().hex[:10]
    if parsed.get_backend_name() == "postgresql":
        name = f"{parsed.database}_raw_{suffix}"
        admin = _pg_conninfo(str(parsed.set(database="postgres").render_as_string(hide_password=False)))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = Database(parsed.set(database=name).render_as_string(hide_password=False))
        try:
            migrate.upgrade(db)
            yield db
        finally:
            db.dispose()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = Path(parsed.database or "bench.sqlite3")
    target = path.with_name(f"{path.stem}.raw-{suffix}.sqlite3")
    db = Database(f"sqlite:///{target}")
    try:
        migrate.upgrade(db)
        yield db
    finally:
        db.dispose()
        for extra in ("", "-wal", "-shm"):
            Path(f"{target}{extra}").unlink(missing_ok=True)


def _read_back(db: Database, folder: Path) -> dict[str, Path]:
    """Every registry row of ``db``, table by table, into files of ``folder`` (memory stays bounded): the
    text PostgreSQL's ``COPY ... TO STDOUT`` produces, or pickled batches of tuples on SQLite."""
    out: dict[str, Path] = {}
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        for table, columns in COLUMNS.items():
            cols = ", ".join(columns)
            out[table] = folder / f"{table}.dump"
            with out[table].open("wb") as fh:
                if db.backend == "postgresql":
                    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) TO STDOUT") as copy:  # type: ignore[union-attr]
                        for block in copy:
                            fh.write(block)
                    continue
                cur = raw.execute(f"SELECT {cols} FROM {table}")  # type: ignore[union-attr]
                while batch := cur.fetchmany(10_000):
                    pickle.dump(batch, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _raw_load(db: Database, dumps: dict[str, Path]) -> None:
    """Write the rows as they are, one transaction, no checks: the machine's baseline."""
    with db.transaction() as s:
        raw = s.connection().connection.driver_connection
        for table, columns in COLUMNS.items():
            cols = ", ".join(columns)
            with dumps[table].open("rb") as fh:
                if db.backend == "postgresql":
                    with raw.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
                        while block := fh.read(1 << 20):
                            copy.write(block)
                    continue
                marks = ", ".join("?" for _ in columns)
                while True:
                    try:
                        batch = pickle.load(fh)  # noqa: S301 (our own file, in our own temp folder)
                    except EOFError:
                        break
                    raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)  # type: ignore[union-attr]


class _Timed:
    """An iterator that adds up the time spent producing its items (the records the bench generates)."""

    def __init__(self, items: Iterator[dict[str, Any]]) -> None:
        self.items = items
        self.seconds = 0.0

    def __iter__(self) -> _Timed:
        return self

    def __next__(self) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            return next(self.items)
        finally:
            self.seconds += time.perf_counter() - start


def _rss_mib() -> float:
    """Peak resident memory of this process (MiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def load(
    people: Annotated[int, typer.Option("--people", min=1, help="How many synthetic persons to load.")],
    db: DbOpt,
    node: NodeOpt = "110000",
    seed: Annotated[int, typer.Option(help="Seed of the synthetic records.")] = 1,
    chunk: Annotated[
        int,
        typer.Option(min=1, help="Persons per part: records are generated, checked and loaded part by part."),
    ] = DEFAULT_CHUNK,
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Also copy the same rows raw into a scratch database (the ratio); without it, the load alone.",
        ),
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Import N synthetic persons through the import fast path; compare with a raw COPY of the same rows."""
    database = Database(db, Settings())
    raw: float | None = None
    try:
        migrate.upgrade(database)
        with database.session() as s:
            if not store.is_empty(s):
                raise typer.BadParameter(
                    "the node's registry is not empty: load into a fresh database", param_hint="--db"
                )
        records = _Timed(synthetic_records(people, node_code=node, seed=seed))
        with progress("import (rows written)", None) as advance:
            start = time.perf_counter()
            result = import_records(
                database, records, node_code=node, actor="system:bench", progress=advance, chunk=chunk
            )
            # Generating the records is not the import's work (a file import parses them instead): the time
            # spent in the generator, interleaved with the import, is measured and left out.
            ours = time.perf_counter() - start - records.seconds
        if baseline:
            with tempfile.TemporaryDirectory(prefix="tongban-bench-load-") as folder:
                dumps = _read_back(database, Path(folder))
                with scratch_database(db) as raw_db:
                    start = time.perf_counter()
                    _raw_load(raw_db, dumps)
                    raw = time.perf_counter() - start
    finally:
        database.dispose()
    counts = {
        "persons": result.persons,
        "households": result.households,
        "memberships": result.memberships,
        "journal": result.journal,
        "search_keys": result.search_keys,
    }
    seconds = {
        "ours": round(ours, 3),
        "check": round(result.seconds.get("check", 0.0), 3),
        "load": round(result.seconds.get("load", 0.0) - records.seconds, 3),
        "generate": round(records.seconds, 3),
    }
    if raw is not None:
        seconds["raw"] = round(raw, 3)
    report(
        BenchResult(
            workload="load",
            figure=Measure("import", rate(result.persons, ours), "persons/s"),
            baseline=Measure("raw copy of the same rows", rate(result.persons, raw), "persons/s")
            if raw is not None
            else Measure("raw copy of the same rows (not measured: --no-baseline)", 0.0, "persons/s"),
            ratio=round(raw / ours, 3) if raw is not None and ours > 0 else 0.0,
            details={
                "backend": database.backend,
                "people": people,
                "chunk": chunk,
                "rows": counts,
                "seconds": seconds,
                "peak_rss_mib": _rss_mib(),
            },
        ),
        as_json,
    )


# -------------------------------------------------------------------------------------------- search
def _sample(database: Database, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(name, ID number) of up to ``n`` persons picked at random by id."""
    with database.session() as s:
        bounds: tuple[int | None, int | None] = tuple(  # type: ignore[assignment]
            s.execute(sa.select(sa.func.min(Person.id), sa.func.max(Person.id))).one()
        )
        lo, hi = bounds
        if lo is None or hi is None:
            return []
        ids = sorted({rng.randint(lo, hi) for _ in range(n * 2)})
        found: list[tuple[str, str]] = []
        for i in range(0, len(ids), 500):
            found.extend(
                (name, number)
                for name, number in s.execute(
                    sa.select(Person.name, Person.id_number).where(Person.id.in_(ids[i : i + 500]))
                ).all()
            )
        rng.shuffle(found)
        return found[:n]


def _queries(names: list[str], rng: random.Random) -> list[str]:
    """Prefixes a clerk would type: a hanzi prefix, a full-pinyin prefix, or initials."""
    out = []
    for name in names:
        keys = search_keys(name)
        key = rng.choice(keys)
        shortest = 1 if not key.isascii() else 2
        out.append(key[: rng.randint(min(shortest, len(key)), len(key))])
    return out


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def search(
    db: DbOpt,
    node: NodeOpt = "110000",
    count: Annotated[int, typer.Option("--queries", min=10, help="How many searches to time.")] = 2000,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Results per search.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the query sample.")] = 1,
    within: Annotated[
        str, typer.Option(help="Search as a clerk of this division prefix (e.g. a county, 110105).")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Name-search latency (p50/p95/p99) on a loaded node, against exact lookups by ID number."""
    rng = random.Random(seed)
    settings = Settings()
    database = Database(db, settings)
    ctx = NodeContext(code=node, name=node, db=database, settings=settings, clock=SystemClock())
    try:
        sample = _sample(database, count, rng)
        if not sample:
            raise typer.BadParameter(
                "the node's registry is empty: run `tongban bench load` first", param_hint="--db"
            )
        texts = _queries([name for name, _ in sample], rng)
        for q in texts[:50]:  # warm the pool and the caches
            queries.search_persons(ctx, actor="system:bench", query=q, limit=limit, division_prefix=within)
        found = 0
        search_ms: list[float] = []
        with progress("search", len(texts)) as advance:
            for q in texts:
                start = time.perf_counter()
                hits = queries.search_persons(
                    ctx, actor="system:bench", query=q, limit=limit, division_prefix=within
                )
                search_ms.append((time.perf_counter() - start) * 1000)
                found += bool(hits)
                advance(1)
        lookup_ms = [
            _timed(lambda n=number: queries.get_person(ctx, actor="system:bench", id_number=n))
            for _, number in sample
        ]
        with database.session() as s:
            persons = s.execute(sa.select(sa.func.count()).select_from(Person)).scalar_one()
    finally:
        database.dispose()
    mine, base = percentiles(search_ms), percentiles(lookup_ms)
    report(
        BenchResult(
            workload="search",
            figure=Measure("name search p99", mine["p99"], "ms"),
            baseline=Measure("lookup by ID number p99", base["p99"], "ms"),
            ratio=round(base["p99"] / mine["p99"], 3) if mine["p99"] > 0 else 0.0,
            latency_ms=mine,
            details={
                "backend": database.backend,
                "persons": persons,
                "queries": len(texts),
                "queries_with_hits": found,
                "limit": limit,
                "within": within or "whole node",
                "lookup_latency_ms": base,
            },
        ),
        as_json,
    )


# -------------------------------------------------------------------------------------------- counts
def counts(
    db: DbOpt,
    node: NodeOpt = "110000",
    repeat: Annotated[int, typer.Option("--repeat", min=3, help="How many times to read each.")] = 20,
    within: Annotated[str, typer.Option(help="Read as a clerk of this division prefix (e.g. 110105).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Reading the registry counts (maintained rows) against counting them from the current state."""
    settings = Settings()
    database = Database(db, settings)
    ctx = NodeContext(code=node, name=node, db=database, settings=settings, clock=SystemClock())
    try:
        ours: list[float] = []
        full: list[float] = []
        for _ in range(repeat):  # alternate, so that the machine's load weighs on both alike
            ours.append(_timed(lambda: queries.registry_counts(ctx, actor="bench", division_prefix=within)))

            def recount() -> None:
                with database.session() as s:
                    store.recount(s)

            full.append(_timed(recount))
        with database.session() as s:
            persons = s.execute(sa.select(sa.func.count()).select_from(Person)).scalar_one()
    finally:
        database.dispose()
    mine, base = percentiles(ours), percentiles(full)
    report(
        BenchResult(
            workload="counts",
            figure=Measure("maintained counts read p50", mine["p50"], "ms"),
            baseline=Measure("full recount (GROUP BY over the current state) p50", base["p50"], "ms"),
            ratio=round(base["p50"] / mine["p50"], 1) if mine["p50"] > 0 else 0.0,
            latency_ms=mine,
            details={
                "backend": database.backend,
                "persons": persons,
                "repeat": repeat,
                "within": within or "whole node",
                "recount_latency_ms": base,
            },
        ),
        as_json,
    )


def register(bench_app: typer.Typer) -> None:
    bench_app.command("load")(load)
    bench_app.command("search")(search)
    bench_app.command("counts")(counts)
