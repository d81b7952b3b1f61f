"""Building a synthetic nation in a data dir: one node per province, generated and imported.

For each province: open its node database (SQLite under the data dir by default), migrate it, generate the
population, and load it through the registry's import path (checked as a whole, loaded in one transaction).
Then each node records the people of other provinces who live in it, and the manifest (``nation.json``) is
written last, so a data dir with a manifest always holds a complete nation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as dt_time
from functools import partial
from pathlib import Path

from sqlalchemy import select

from tongban.core import migrate
from tongban.core.clock import FixedClock, SystemClock
from tongban.core.node import MANIFEST, NodeContext, NodeEntry, open_node, write_manifest
from tongban.core.settings import Settings
from tongban.divisions.domain import get_catalog
from tongban.exchange import directory_admin
from tongban.exchange.directory import DIRECTORY_FILE
from tongban.exchange.locator import LOCATOR_CODE, LOCATOR_NAME, locator_key, seed_locator
from tongban.nation import service
from tongban.nation.demo import (
    DEMO_FILE,
    DemoAccount,
    busiest_counties,
    create_demo_clerk,
    create_demo_supervisor,
    write_demo_file,
)
from tongban.nation.domain import AS_OF, DEFAULT_PROVINCES, Person
from tongban.nation.generator import generate_province
from tongban.nation.records import ACTOR, province_records
from tongban.registry.domain import RegistrationStatus
from tongban.registry.importing import import_records
from tongban.registry.tables import Person as PersonRow
from tongban.registry.tables import PersonState
from tongban.supervision.demo import seed_cases

#: Progress callback: (stage, province code, units done since the last call). Stages: generate, import.
Progress = Callable[[str, str, int], None]

#: The import runs as of the nation's "today" (the import checks no date lies in its future).
IMPORT_CLOCK_AT = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 12, 0, tzinfo=UTC)


class NationExists(Exception):
    """The data dir already holds a nation, or node databases of an unfinished one."""


@dataclass
class NodeSummary:
    code: str
    name: str
    persons: int = 0
    households: int = 0
    residents_from_elsewhere: int = 0
    demo: DemoAccount | None = None
    supervisor: DemoAccount | None = None
    demo_cases: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def choose_provinces(count: int | None, codes: list[str] | None) -> list[str]:
    """The provinces of the nation: the codes given, or the first ``count`` of the default choice."""
    catalog = get_catalog()
    if codes:
        chosen = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
        for code in chosen:
            division = catalog.get(code)
            if division is None or not code.endswith("0000") or not catalog.in_use(code):
                raise ValueError(f"{code} is not a provincial-level division code in use")
        return chosen
    n = count if count is not None else 4
    if not 1 <= n <= len(DEFAULT_PROVINCES):
        raise ValueError(f"choose 1 to {len(DEFAULT_PROVINCES)} provinces")
    return list(DEFAULT_PROVINCES[:n])


def _node_files(settings: Settings, codes: list[str]) -> list[Path]:
    if settings.db_url:
        return []
    return [settings.data_dir / f"{code}.sqlite3" for code in (*codes, LOCATOR_CODE)]


def build_nation(
    settings: Settings,
    codes: list[str],
    *,
    people: int,
    seed: int,
    force: bool = False,
    demo_accounts: bool = True,
    progress: Progress | None = None,
) -> list[NodeSummary]:
    """Create the nodes of ``codes`` under ``settings.data_dir`` and fill them with a generated nation.

    With ``demo_accounts``, each node also gets a demo clerk and a demo county supervisor (see
    ``tongban.nation.demo``), and some weeks of synthetic cases (``tongban.supervision.demo``).
    """
    data_dir = settings.data_dir
    if people < 1:
        raise ValueError("a province needs at least one person")
    leftovers = [p for p in _node_files(settings, codes) if p.exists()]
    if (data_dir / MANIFEST).exists() and not force:
        raise NationExists(f"{data_dir / MANIFEST} exists: this data dir already holds a nation")
    if leftovers and not force:
        raise NationExists(f"node databases already exist in {data_dir}: remove them or pass --force")
    if force:
        (data_dir / MANIFEST).unlink(missing_ok=True)
        (data_dir / DEMO_FILE).unlink(missing_ok=True)
        for path in leftovers:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    catalog = get_catalog()
    entries = [NodeEntry(code=code, name=catalog.get(code).name) for code in codes]  # type: ignore[union-attr]
    nodes: list[NodeContext] = []
    summaries: list[NodeSummary] = []
    living_in: dict[str, list[tuple[str, Person]]] = {code: [] for code in codes}
    try:
        for entry in entries:
            node = open_node(entry, settings, clock=FixedClock(IMPORT_CLOCK_AT))
            nodes.append(node)
            summary = NodeSummary(code=entry.code, name=entry.name)
            summaries.append(summary)
            t0 = time.perf_counter()
            migrate.upgrade(node.db)
            summary.seconds["migrate"] = time.perf_counter() - t0

            def tick(n: int, stage: str = "generate", code: str = entry.code) -> None:
                if progress is not None:
                    progress(stage, code, n)

            t0 = time.perf_counter()
            nation = generate_province(entry.code, people, seed, other_provinces=tuple(codes), progress=tick)
            summary.seconds["generate"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            report = import_records(
                node.db,
                province_records(nation),
                node_code=entry.code,
                actor=ACTOR,
                clock=node.clock,
                progress=partial(tick, stage="import"),
            )
            summary.seconds["import"] = time.perf_counter() - t0
            summary.persons = report.persons
            summary.households = report.households
            if demo_accounts:
                now = SystemClock().now()
                counties = busiest_counties(nation, 2)
                summary.demo = create_demo_clerk(node, county=counties[0], now=now)
                summary.supervisor = create_demo_supervisor(node, county=counties[0], now=now)
                t0 = time.perf_counter()
                offices = [(f"{c}-0{i}", c) for c in counties for i in (1, 2)][:3]
                summary.demo_cases = seed_cases(node, offices=offices, now=now, seed=seed).total
                summary.seconds["demo cases"] = time.perf_counter() - t0
            for p in nation.residents_elsewhere():
                assert p.residence is not None
                if p.residence.province_code in living_in:
                    living_in[p.residence.province_code].append((entry.code, p))
        for node, summary in zip(nodes, summaries, strict=True):
            summary.residents_from_elsewhere = service.record_residents(node, residents=living_in[node.code])
    finally:
        for node in nodes:
            node.db.dispose()
    if demo_accounts:
        accounts = [a for s in summaries for a in (s.demo, s.supervisor) if a is not None]
        write_demo_file(data_dir, accounts)
    ensure_directory(data_dir, entries)
    ensure_locator(settings, entries)
    write_manifest(
        data_dir,
        entries,
        locator={"code": LOCATOR_CODE, "name": LOCATOR_NAME},
        nation={
            "seed": seed,
            "people_per_province": people,
            "as_of": AS_OF.isoformat(),
            "nodes": {s.code: {"persons": s.persons, "households": s.households} for s in summaries},
        },
    )
    return summaries


def ensure_directory(data_dir: Path, entries: list[NodeEntry]) -> None:
    """A signed national directory listing every node and the national locator with fresh keys, so the
    exchange starts with the nodes (``tongban serve`` hosts the locator with them).

    An existing directory is kept; nodes it lacks are added to it.
    """
    now = SystemClock().now()
    if not (data_dir / DIRECTORY_FILE).exists():
        directory_admin.init(data_dir, now=now)
    listed = directory_admin.show(data_dir, now=now)
    wanted = {e.code: e for e in [NodeEntry(code=LOCATOR_CODE, name=LOCATOR_NAME), *entries]}
    for entry in wanted.values():
        if listed.node(entry.code) is None:
            directory_admin.add_node(data_dir, code=entry.code, name=entry.name, now=now)


def ensure_locator(settings: Settings, entries: list[NodeEntry]) -> int:
    """Create and migrate the locator's database and seed it with everyone registered in the nodes.

    The build loads the nodes before any exchange runs, so nobody was reported to the locator; each node's
    active registrations go in directly (keyed digests only, no names). Returns how many were added.
    """
    now = SystemClock().now()
    key = locator_key(settings.data_dir)
    registered: list[tuple[str, str, datetime]] = []
    for entry in entries:
        node = open_node(entry, settings)
        try:
            with node.db.session() as s:
                for id_number, since in s.execute(
                    select(PersonRow.id_number, PersonState.since)
                    .join(PersonState, PersonState.person_id == PersonRow.id)
                    .where(PersonState.status == RegistrationStatus.ACTIVE.value)
                ):
                    registered.append((id_number, entry.code, datetime.combine(since, dt_time(), UTC)))
        finally:
            node.db.dispose()
    locator = open_node(NodeEntry(code=LOCATOR_CODE, name=LOCATOR_NAME), settings)
    try:
        migrate.upgrade(locator.db)
        with locator.db.transaction() as s:
            return seed_locator(s, key=key, registered=registered, now=now)
    finally:
        locator.db.dispose()
