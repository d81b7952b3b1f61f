"""Support of the migration tests between node processes: Beijing (110000, the destination), Shanghai
(310000, the origin) and the national locator (000000), each a ``tongban serve --node CODE --db URL --nats URL``
process on a scratch PostgreSQL database of its own, over a nats-server with JetStream that the tests start on a
port of their own (never the shared broker).

The test drives the saga through the migration service's entry points on the nodes' databases, as the window's
and the clerks' pages do (``accept_migration``, ``approve``, ``origin.move_out``, ``move_in``,
``samecity.move_in_city``): what they commit reaches the other nodes through the node processes' outboxes,
relays and apply loops. The origin's move-out is a clerk's (no ``TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT``), so
each step of the saga is a commit of its own.

``run_check`` runs ``tongban check`` (the command) over the three node databases while the processes run (it
pauses their relays and drains what is in flight).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import missing_service
from tests.exchange.exchange_support import NatsServer
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    NAMES,
    ORIGIN_CLERK,
    SH,
    add_household,
    add_person,
    applicant,
    facts_for,
    populate_destination,
    populate_origin,
)

import tongban.migration.service  # noqa: F401  (registers the mig.*.v1 types and handlers)
from tongban.cases.tables import CaseRow
from tongban.chaos.cluster import NodeProcess, free_port, node_env
from tongban.chaos.run import seed_locator_from
from tongban.chaos.settings import ChaosSettings
from tongban.core.node import NodeContext, NodeEntry, open_node
from tongban.core.settings import Settings
from tongban.exchange import directory_admin
from tongban.exchange.locator import LOCATOR_CODE, id_digest, locator_key
from tongban.exchange.runtime import node_exchange
from tongban.exchange.settings import ExchangeSettings
from tongban.exchange.tables import InboxRow, LocatorEntryRow, OutboxRow
from tongban.idnum.domain import make_id_number
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.migration.common import SETTINGS_SERVICE, MigrationSettings
from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow, MigrationTaskRow
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.papers.tables import PaperRow
from tongban.registry.tables import JournalEntry, Person, PersonState

SRC = Path(__file__).resolve().parents[2] / "src"
SECRET = "migration-process-test-secret"
WAIT_S = 120.0  # a restarted node process takes 5 to 30 s to serve again on a loaded machine


# Alone in Beijing's household C1: the same-city mover (to D3, another district of the city).
CITY = make_id_number("110105", date(1988, 8, 8), 17)


def movers(n: int) -> list[str]:
    """Synthetic persons of Shanghai, each alone in a household ``S<i>`` (the movers of the kill tests)."""
    return [make_id_number("310104", date(1961 + i, 3, 3), 101 + i) for i in range(n)]


def _sex(id_number: str) -> str:
    return "male" if int(id_number[16]) % 2 else "female"


def _populate_city(node: NodeContext) -> None:
    add_household(node, "C1", "110105")
    add_person(node, "C1", "head", CITY, "测试城", _sex(CITY))


def _populate_movers(node: NodeContext, destination: NodeContext, people: list[str]) -> None:
    for i, id_number in enumerate(people):
        add_household(node, f"S{i}", "310104")
        add_person(node, f"S{i}", "head", id_number, "测试迁", _sex(id_number))
        add_household(destination, f"K{i}", "110105")


def process_env() -> dict[str, str]:
    """The node processes' environment: the chaos run's short exchange timeouts without its fault wrapper, one
    JetStream server, and the origin's move-out left to a clerk."""
    env = node_env(ChaosSettings(), seed=0, secret=SECRET, faults=False)
    env.pop("TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT")
    env["TONGBAN_EXCHANGE_STREAM_REPLICAS"] = "1"
    env["TONGBAN_EXCHANGE_POLL_INTERVAL_S"] = "0.05"
    return env


@dataclass
class ProcNation:
    """The test's own contexts of the nodes (on the processes' databases) and the node processes."""

    root: Path
    data_dir: Path
    urls: dict[str, str]
    nodes: dict[str, NodeContext]
    nats: NatsServer
    procs: dict[str, NodeProcess] = field(default_factory=dict)

    @property
    def bj(self) -> NodeContext:
        return self.nodes[BJ]

    @property
    def sh(self) -> NodeContext:
        return self.nodes[SH]

    @property
    def locator(self) -> NodeContext:
        return self.nodes[LOCATOR_CODE]

    def logs(self, tail: int = 6000) -> str:
        return "".join(
            f"--- {code} ---\n{p.log.read_text(errors='replace')[-tail:]}"
            for code, p in self.procs.items()
            if p.log.exists()
        )

    def kill(self, code: str) -> None:
        """SIGKILL of the node's process group."""
        self.procs[code].kill()

    def restart(self, code: str) -> None:
        self.procs[code].start()

    def ensure_running(self, timeout: float = WAIT_S) -> None:
        for proc in self.procs.values():
            if not proc.running:
                proc.start()
        for proc in self.procs.values():
            proc.wait_ready(timeout)

    def close(self) -> None:
        # All at once: each takes a few seconds to stop its exchange loops.
        with ThreadPoolExecutor(max_workers=max(1, len(self.procs))) as pool:
            list(pool.map(lambda proc: proc.stop(10), self.procs.values()))
        self.nats.kill()
        for node in self.nodes.values():
            node.db.dispose()


def make_nation(data_dir: Path) -> Path:
    """The directory of the three nodes that run (a node listed without a process would never receipt what the
    others send it, e.g. the papers' revocation lists, and the checker's drain would not end)."""
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(data_dir, now=now)
    for code in (BJ, SH, LOCATOR_CODE):
        directory_admin.add_node(data_dir, code=code, name=NAMES[code], now=now)
    return data_dir


def _context(code: str, url: str, data_dir: Path) -> NodeContext:
    settings = Settings(data_dir=data_dir, secret_key=SECRET, db_pool_size=3)
    return open_node(NodeEntry(code, NAMES[code], url), settings)


def _attach(node: NodeContext, data_dir: Path) -> None:
    """Sending through the node's outbox (the process relays it), signing papers, the registration listener."""
    ex = node_exchange(node, data_dir, ExchangeSettings())
    node.services[KEYS_SERVICE] = DirectorySignerSource(ex.directory, data_dir)
    node.services[SETTINGS_SERVICE] = MigrationSettings(locator_wait_s=20.0)


def proc_nation(root: Path, pg_factory: Any, *, extra_movers: int = 0) -> Iterator[ProcNation]:
    """The body of a fixture: the nation populated (mig_support's registers, plus ``extra_movers`` persons of
    ``movers``), the locator seeded with both registers, the processes started; everything stopped after."""
    if pg_factory is None:
        missing_service("PostgreSQL")
    if shutil.which("nats-server") is None:
        missing_service("nats-server")
    data_dir = make_nation(root / "nation")
    urls = {BJ: pg_factory.new(), SH: pg_factory.new(), LOCATOR_CODE: pg_factory.new()}
    nodes = {code: _context(code, url, data_dir) for code, url in urls.items()}
    populate_origin(nodes[SH])
    populate_destination(nodes[BJ], "110105")
    _populate_city(nodes[BJ])
    _populate_movers(nodes[SH], nodes[BJ], movers(extra_movers))
    # Loaded before any exchange ran (so nobody reported them): the locator is seeded with both registers, as
    # ``tongban nation init`` seeds it.
    seed_locator_from({BJ: urls[BJ], SH: urls[SH]}, urls[LOCATOR_CODE], data_dir)
    _attach(nodes[BJ], data_dir)
    _attach(nodes[SH], data_dir)
    nats = NatsServer(root / "jetstream")
    nation = ProcNation(root=root, data_dir=data_dir, urls=urls, nodes=nodes, nats=nats)
    env = process_env()
    try:
        nats.start()
        for code, url in urls.items():
            nation.procs[code] = NodeProcess(
                code, url, nats.url, data_dir, free_port(), root / f"node-{code}.log", env
            )
            nation.procs[code].start()
        for proc in nation.procs.values():
            proc.wait_ready(WAIT_S)
        yield nation
    finally:
        nation.close()


# -- driving and reading -----------------------------------------------------------------------------------


def wait_for(predicate: Callable[[], bool], timeout: float = WAIT_S, interval: float = 0.05) -> bool:
    """Poll ``predicate`` (a read of a node's database) until it holds; quick enough to catch a step's commit
    right after it happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(interval)
    return False


def accept(nation: ProcNation, id_number: str, matter: str = "MIG-JOB", *, household: str = "D1") -> str:
    """Accepted at Beijing's window (the household booklet names Shanghai as the origin)."""
    view = mig.accept_migration(
        nation.bj,
        actor=CLERK_BJ,
        applicant=applicant(id_number),
        name="测试",
        matter=matter,
        facts=facts_for(matter),
        household_number=household,
        relation="other_relative" if household == "D1" else "head",
        origin_address="上海市徐汇区测试路",
        origin=SH,
    )
    return view.number


def approve(nation: ProcNation, number: str) -> None:
    mig.approve(nation.bj, actor=CLERK_BJ, number=number)


def move_out(nation: ProcNation, number: str) -> None:
    origin.move_out(nation.sh, actor=ORIGIN_CLERK, case_number=number)


def move_in(nation: ProcNation, number: str) -> None:
    mig.move_in(nation.bj, actor=CLERK_BJ, number=number)


def mig_state(nation: ProcNation, number: str) -> str | None:
    with nation.bj.db.session() as s:
        return s.scalar(select(MigrationCaseRow.state).where(MigrationCaseRow.case_number == number))


def task_state(nation: ProcNation, number: str) -> str | None:
    with nation.sh.db.session() as s:
        return s.scalar(select(MigrationTaskRow.state).where(MigrationTaskRow.case_number == number))


def locator_entry(nation: ProcNation, id_number: str) -> tuple[str, str, str | None] | None:
    with nation.locator.db.session() as s:
        row = s.get(LocatorEntryRow, id_digest(locator_key(nation.data_dir), id_number))
        return None if row is None else (row.node, row.status, row.case_ref)


def settled_everywhere(nation: ProcNation, number: str, id_number: str) -> bool:
    return (
        mig_state(nation, number) == "settled"
        and task_state(nation, number) == "settled"
        and locator_entry(nation, id_number) == (BJ, "registered", None)
    )


def run_saga(nation: ProcNation, number: str, id_number: str) -> None:
    """From an accepted case to the end, no kill: approve, the origin's clerk moves out, move in."""
    approve(nation, number)
    assert wait_for(lambda: task_state(nation, number) == "received"), nation.logs()
    move_out(nation, number)
    assert wait_for(lambda: mig_state(nation, number) == "certificate_received"), nation.logs()
    move_in(nation, number)
    assert wait_for(lambda: settled_everywhere(nation, number, id_number)), nation.logs()


def final_state(nation: ProcNation, number: str, id_number: str) -> dict[str, Any]:
    """What a settled migration leaves in the three databases, without the person or the case number."""
    out: dict[str, Any] = {"locator": locator_entry(nation, id_number)}
    for code, node in ((BJ, nation.bj), (SH, nation.sh)):
        with node.db.session() as s:
            persons = s.scalars(select(Person).where(Person.id_number == id_number)).all()
            statuses = [s.get(PersonState, p.id) for p in persons]
            journal = [
                e
                for p in persons
                for e in s.scalars(
                    select(JournalEntry.event).where(
                        JournalEntry.person_id == p.id, JournalEntry.case_ref == number
                    )
                )
            ]
            case = s.scalars(select(CaseRow).where(CaseRow.number == number)).one_or_none()
            papers = sorted(s.scalars(select(PaperRow.type).where(PaperRow.subject_ref == number)))
            live = sorted(
                s.scalars(
                    select(PaperRow.type).where(PaperRow.subject_ref == number, PaperRow.revoked_at.is_(None))
                )
            )
            out[code] = {
                "persons": len(persons),
                "status": sorted(st.status if st is not None else "none" for st in statuses),
                "journal": sorted(journal),
                "case": None if case is None else (case.state, case.close_reason, case.closed_at is not None),
                "migration": s.scalar(
                    select(MigrationCaseRow.state).where(MigrationCaseRow.case_number == number)
                ),
                "task": s.scalar(
                    select(MigrationTaskRow.state).where(MigrationTaskRow.case_number == number)
                ),
                "open_marks": s.scalar(
                    select(func.count())
                    .select_from(MigrationOpenRow)
                    .where(MigrationOpenRow.case_number == number)
                ),
                "papers": papers,
                "live_papers": live,
            }
    # Every message of the case sent once and received once, whatever was re-sent.
    sent: dict[str, tuple[str, str, str]] = {}
    for code, node in ((BJ, nation.bj), (SH, nation.sh)):
        with node.db.session() as s:
            for row in s.scalars(select(OutboxRow).where(OutboxRow.case_ref == number)):
                sent[row.id] = (code, row.recipient, row.type)
    received: list[tuple[str, str, str, str]] = []
    for code, node in nation.nodes.items():
        with node.db.session() as s:
            for sender, envelope, state in s.execute(
                select(InboxRow.sender, InboxRow.envelope_id, InboxRow.state).where(
                    InboxRow.envelope_id.in_(list(sent))
                )
            ):
                received.append((sender, code, sent[envelope][2], state))
    out["sent"] = sorted(sent.values())
    out["received"] = sorted(received)
    return out


def in_flight(nation: ProcNation) -> list[tuple[str, str, str, str, int]]:
    """Outbox rows not yet receipted (what to look at when a drain does not end)."""
    rows = []
    for code, node in nation.nodes.items():
        with node.db.session() as s:
            for r in s.scalars(select(OutboxRow).where(OutboxRow.state.not_in(["acknowledged", "rejected"]))):
                rows.append((code, r.recipient, r.type, r.state, r.attempts))
    return rows


def run_check(nation: ProcNation) -> dict[str, Any]:
    """``tongban check --json`` (the command, another process) over the three node databases; asserts it is
    clean (exit 0, no findings, nothing left undrained) and returns its JSON summary."""
    cmd = [sys.executable, "-m", "tongban", "check", "--json", "--data-dir", str(nation.data_dir)]
    for code, url in nation.urls.items():
        cmd += ["--node", f"{code}={url}"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "TONGBAN_SECRET_KEY": SECRET,
        "TONGBAN_DATA_DIR": str(nation.data_dir),
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        report = proc.stdout[-3000:]
    assert proc.returncode == 0, (
        proc.returncode,
        report,
        proc.stderr[-3000:],
        in_flight(nation),
        nation.logs(),
    )
    assert isinstance(report, dict) and report["ok"] is True and report["findings"] == [], report
    assert sorted(report["nodes"]) == sorted(nation.urls), report
    return dict(report)
