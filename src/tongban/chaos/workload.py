"""Operations of a chaos run, and how each is judged after the run.

A ``Workload`` prepares the nodes' databases before the node processes start, hands out operations with unique
ids, submits them (from several threads at once) and, after the run has quiesced, classifies every one of them
by reading the nodes' databases, and reports effects that no operation asked for. ``CertWorkload`` requests
kinship certificates across provinces; a migration workload implements the same protocol once the migration
capability exists (``WORKLOADS`` names the available ones).

Outcomes: ``ok`` (finished once, every effect once), ``recovered`` (finished once although a fault hit its path,
or although its submission reported an error), ``lost`` (accepted but never finished), ``duplicated`` (an effect
applied twice: two papers, two decisions, two applications of the result, two logged reads), ``unexpected`` (an
outcome or effect nobody asked for), ``not-accepted`` (the submission failed and left no effect; not a fault of
the system, since the applicant was told so).
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from tongban.core.node import NodeContext

OK, RECOVERED, LOST, DUPLICATED, UNEXPECTED, NOT_ACCEPTED = (
    "ok",
    "recovered",
    "lost",
    "duplicated",
    "unexpected",
    "not-accepted",
)
FAILURES = (LOST, DUPLICATED, UNEXPECTED)
LOCATOR = (
    "000000"  # the national locator (tongban.exchange.locator.LOCATOR_CODE): every CERT routes through it
)


@dataclass
class Operation:
    id: str  # unique in the run: "<seed>-<index>"
    kind: str
    node: str  # where it is submitted
    target: str  # the other node it involves
    subject: str = field(repr=False)  # the person it is about (never printed or logged)
    submitted_at: datetime | None = None
    ref: str | None = None  # what the submitting node answered (a case number)
    error: str | None = None  # the submission's error, if it reported one
    rivals: list[str] = field(default_factory=list)  # competing destinations (their case numbers in refs)
    refs: list[str] = field(default_factory=list)  # every case number the submission got


@dataclass(frozen=True)
class Verdict:
    op: str
    outcome: str
    detail: str = ""


@dataclass
class Window:
    """A span during which a fault hit a node or the broker (for telling recovered operations apart)."""

    start: datetime
    end: datetime
    target: str  # a node code or "nats-<i>"


@dataclass
class RunContext:
    seed: int
    data_dir: Path
    db_urls: dict[str, str]  # node code -> database URL
    secret: str
    concurrency: int
    # Origins whose process does not move out by itself: the workload's origin clerk moves out by hand.
    manual_move_out: frozenset[str] = frozenset()


class Workload(Protocol):
    name: str

    def prepare(self, ctx: RunContext, planned: int) -> None:
        """Load what the operations need into the (migrated) node databases, before the node processes start."""

    def next_operation(self, index: int, rng: random.Random) -> Operation | None:
        """The next operation (``None`` when the prepared data is used up)."""

    def submit(self, op: Operation) -> None:
        """Submit ``op`` (sets ``op.ref`` or ``op.error``); never raises."""

    def settled(self, ops: list[Operation]) -> bool:
        """Every accepted operation has reached an end (used while quiescing)."""

    def classify(self, ops: list[Operation], windows: list[Window]) -> tuple[list[Verdict], list[str]]:
        """A verdict per operation, and the effects that no operation asked for."""

    def close(self) -> None: ...


# -- CERT ------------------------------------------------------------------------------------------------

AREAS = {
    "110000": "110105",
    "310000": "310104",
    "440000": "440106",
    "320000": "320102",
    "330000": "330106",
}
NAMES = {"110000": "北京市", "310000": "上海市", "440000": "广东省", "320000": "江苏省", "330000": "浙江省"}


def node_codes(n: int) -> list[str]:
    if not 2 <= n <= len(AREAS):
        raise ValueError(f"a chaos run has 2 to {len(AREAS)} nodes")
    return list(AREAS)[:n]


def _open(ctx: RunContext, code: str) -> NodeContext:
    from tongban.core.node import NodeEntry, open_node
    from tongban.core.settings import Settings

    settings = Settings(
        data_dir=ctx.data_dir,
        secret_key=ctx.secret,
        db_pool_size=ctx.concurrency + 2,
        pg_lock_timeout_s=5,
        pg_idle_in_transaction_timeout_s=30,
    )
    return open_node(NodeEntry(code, NAMES.get(code, code), ctx.db_urls[code]), settings)


class CertWorkload:
    """Kinship certificates: accepted at one node's window (``accept_certificate``, the service entry point
    the clerk's page uses), issued automatically by the node that registers the person, completed back at the
    accepting node. Every operation is about a person of its own, so each effect names its operation."""

    name = "cert"

    def __init__(self) -> None:
        self.nodes: dict[str, NodeContext] = {}
        self.free: dict[str, list[str]] = {}

    def prepare(self, ctx: RunContext, planned: int) -> None:

        per_node = planned // len(ctx.db_urls) + 5  # targets are drawn at random: a margin
        for code in ctx.db_urls:
            node = _open(ctx, code)
            self.nodes[code] = node
            self.free[code] = _populate(node, AREAS[code], per_node)
        for node in self.nodes.values():
            # For routing and sending only: the node processes run the exchange.
            _attach(node, ctx.data_dir)

    def next_operation(self, index: int, rng: random.Random) -> Operation | None:
        codes = sorted(self.nodes)
        node = rng.choice(codes)
        targets = [c for c in codes if c != node and self.free[c]]
        if not targets:
            return None
        target = rng.choice(targets)
        subject = self.free[target].pop(rng.randrange(len(self.free[target])))
        return Operation(id=f"{index}", kind="cert.kinship", node=node, target=target, subject=subject)

    def submit(self, op: Operation) -> None:
        import tongban.cert.service  # noqa: F401  (registers the CERT message types)
        from tongban.cases import window
        from tongban.cert.service import accept_certificate

        node = self.nodes[op.node]
        actor = window.Actor(id="user:chaos-clerk", office="OFF-CHAOS", division=AREAS[op.node])
        applicant = window.Applicant(id_number=op.subject, phone=None, email=None, locale="zh_CN")
        try:
            case = accept_certificate(
                node, actor=actor, applicant=applicant, kind="kinship", purpose=f"chaos {op.id}"
            )
        except Exception as exc:  # the applicant is told; the classification looks for effects anyway
            op.error = f"{type(exc).__name__}: {exc}"[:200]
        else:
            op.ref = case.number

    def settled(self, ops: list[Operation]) -> bool:
        from tongban.cert.tables import CertRequestRow

        open_cases = 0
        for node in self.nodes.values():
            with node.db.session() as s:
                open_cases += int(
                    s.scalar(
                        select(func.count())
                        .select_from(CertRequestRow)
                        .where(CertRequestRow.closed_at.is_(None))
                    )
                    or 0
                )
        return open_cases == 0

    def classify(self, ops: list[Operation], windows: list[Window]) -> tuple[list[Verdict], list[str]]:
        from tongban.access.tables import RecordView
        from tongban.audit.tables import AuditRow
        from tongban.cases import window
        from tongban.cases.tables import CaseRow
        from tongban.cert.domain import MATTER
        from tongban.cert.tables import CertRequestRow
        from tongban.papers.tables import PaperRow
        from tongban.registry.tables import Person

        # Everything each node holds about CERT, read once.
        cases: dict[str, dict[str, list[tuple[str, str]]]] = {}  # node -> applicant ref -> [(number, state)]
        requests: dict[str, dict[str, CertRequestRow]] = {}  # node -> case number -> request
        applied: dict[str, Counter[str]] = {}  # node -> case number -> cert.result.apply audit rows
        decided: dict[str, Counter[str]] = {}  # hukou node -> "A/case" -> cert.request.decide audit rows
        reads: dict[str, Counter[str]] = {}  # hukou node -> "A/case" -> logged reads
        papers: dict[str, Counter[str]] = {}  # hukou node -> person id -> papers
        persons: dict[str, dict[str, str]] = {}  # node -> id number -> person id
        for code, node in self.nodes.items():
            with node.db.session() as s:
                by_applicant: dict[str, list[tuple[str, str]]] = defaultdict(list)
                for number, applicant, state in s.execute(
                    select(CaseRow.number, CaseRow.applicant, CaseRow.state).where(CaseRow.matter == MATTER)
                ):
                    by_applicant[applicant].append((number, state))
                cases[code] = by_applicant
                rows = s.scalars(select(CertRequestRow)).all()
                for r in rows:
                    s.expunge(r)
                requests[code] = {r.case_number: r for r in rows}
                applied[code] = Counter(
                    s.scalars(select(AuditRow.object_id).where(AuditRow.action == "cert.result.apply"))
                )
                decided[code] = Counter(
                    s.scalars(select(AuditRow.object_id).where(AuditRow.action == "cert.request.decide"))
                )
                reads[code] = Counter(
                    r
                    for r in s.scalars(
                        select(RecordView.reason_ref).where(RecordView.action == "cert.request.check")
                    )
                    if r is not None
                )
                papers[code] = Counter(
                    r
                    for r in s.scalars(select(PaperRow.subject_ref).where(PaperRow.type == "cert.kinship"))
                    if r
                )
                persons[code] = {n: str(i) for n, i in s.execute(select(Person.id_number, Person.id))}

        verdicts: list[Verdict] = []
        expected_cases: dict[str, set[str]] = defaultdict(set)
        expected_decisions: dict[str, set[str]] = defaultdict(set)
        expected_papers: dict[str, set[str]] = defaultdict(set)
        for op in ops:
            a, b = self.nodes[op.node], op.target
            found = cases[op.node].get(window.applicant_ref(a, op.subject), [])
            numbers = [n for n, _ in found]
            expected_cases[op.node].update(numbers)
            person = persons[b].get(op.subject)
            if person is not None:
                expected_papers[b].add(person)
            for n in numbers:
                expected_decisions[b].add(f"{op.node}/{n}")
            if not found:
                if op.ref is not None:
                    verdicts.append(Verdict(op.id, LOST, "accepted, but the accepting node has no such case"))
                else:
                    verdicts.append(Verdict(op.id, NOT_ACCEPTED, op.error or ""))
                continue
            if len(found) > 1:
                verdicts.append(Verdict(op.id, DUPLICATED, f"{len(found)} cases for one request"))
                continue
            number = numbers[0]
            if op.ref is not None and op.ref != number:
                verdicts.append(Verdict(op.id, UNEXPECTED, "the case found is not the one answered"))
                continue
            req = requests[op.node].get(number)
            key = f"{op.node}/{number}"
            counts = {
                "results applied": applied[op.node][number],
                "decisions": decided[b][key],
                "logged reads": reads[b][key],
                "papers": papers[b][person] if person is not None else 0,
            }
            twice = [f"{k} x{v}" for k, v in counts.items() if v > 1]
            if twice:
                verdicts.append(Verdict(op.id, DUPLICATED, ", ".join(twice)))
                continue
            if req is None or req.closed_at is None:
                verdicts.append(
                    Verdict(op.id, LOST, f"accepted, still {req.state if req else 'without request'}")
                )
                continue
            if req.state != "issued":
                verdicts.append(Verdict(op.id, UNEXPECTED, f"ended {req.state} ({req.reason})"))
                continue
            if req.recipient != b or req.routed_by != "locator":
                # The locator's round trip must send the request to the node registering the person.
                verdicts.append(
                    Verdict(op.id, UNEXPECTED, f"routed to {req.recipient} by {req.routed_by}, not to {b}")
                )
                continue
            missing = [k for k, v in counts.items() if v == 0]
            if missing:
                verdicts.append(Verdict(op.id, UNEXPECTED, "issued without: " + ", ".join(missing)))
                continue
            if op.error is not None:
                verdicts.append(
                    Verdict(op.id, RECOVERED, "finished although its submission reported an error")
                )
                continue
            hit = _hit_by(op, req.created_at, req.closed_at, windows)
            verdicts.append(Verdict(op.id, RECOVERED, f"through {hit}") if hit else Verdict(op.id, OK))

        unexpected: list[str] = []
        for code in self.nodes:
            extra_cases = {n for rows in cases[code].values() for n, _ in rows} - expected_cases[code]
            unexpected += [f"{code}: a case nobody asked for ({n})" for n in sorted(extra_cases)]
            extra_decisions = set(decided[code]) - expected_decisions[code]
            unexpected += [f"{code}: a decision nobody asked for ({k})" for k in sorted(extra_decisions)]
            extra_papers = set(papers[code]) - expected_papers[code]
            unexpected += [f"{code}: a paper nobody asked for (person {p})" for p in sorted(extra_papers)]
        return verdicts, unexpected

    def close(self) -> None:
        for node in self.nodes.values():
            node.db.dispose()
        self.nodes.clear()


def _attach(node: NodeContext, data_dir: Path) -> None:
    """The exchange (for sending through the node's outbox; the node processes run it) and the paper keys
    (a migration's approval signs the move-in permit) of the orchestrator's own context of a node."""
    from tongban.exchange.runtime import node_exchange
    from tongban.exchange.settings import ExchangeSettings
    from tongban.papers.directory import DirectorySignerSource
    from tongban.papers.service import KEYS_SERVICE

    ex = node_exchange(node, data_dir, ExchangeSettings())
    node.services[KEYS_SERVICE] = DirectorySignerSource(ex.directory, data_dir)


def _hit_by(op: Operation, start: datetime, end: datetime, windows: list[Window]) -> str | None:
    for w in windows:
        if (
            w.start <= end
            and w.end >= start
            and (w.target in (op.node, op.target, LOCATOR) or w.target.startswith("nats"))
        ):
            return w.target
    return None


def _load(node: NodeContext, records: list[dict[str, Any]]) -> None:
    """Load synthetic records through the registry's import (``docs/registry-format.md``: checked as a whole,
    written by COPY in one transaction, audited as one batch): a long run loads tens of thousands."""
    from tongban.core import migrate
    from tongban.registry.importing import import_records

    migrate.upgrade(node.db)
    if records:
        import_records(node.db, records, node_code=node.code, actor="system:chaos", clock=node.clock)


def _household(number: str, address: str, area: str) -> dict[str, Any]:
    return {
        "type": "household",
        "number": number,
        "kind": "family",
        "address": address,
        "division": area,
        "created_on": LOADED_ON,
    }


def _person(
    id_number: str, name: str, sex: str, born: date, area: str, household: str, relation: str
) -> list[dict[str, Any]]:
    return [
        {
            "type": "person",
            "id_number": id_number,
            "name": name,
            "sex": sex,
            "birth_date": born.isoformat(),
            "ethnicity": "01",
            "birthplace": area,
        },
        {
            "type": "membership",
            "household": household,
            "id_number": id_number,
            "relation": relation,
            "from": LOADED_ON,
        },
    ]


#: The day the synthetic households were opened and their people moved in.
LOADED_ON = "2020-01-01"


def _populate(node: NodeContext, area: str, households: int) -> list[str]:
    """``households`` synthetic households of a head and a spouse in ``area``; the heads' ID numbers."""
    from tongban.idnum.domain import make_id_number

    heads: list[str] = []
    records: list[dict[str, Any]] = []
    for i in range(households):
        born = date(1960, 1, 1) + timedelta(days=i // 400)
        head = make_id_number(area, born, 1 + 2 * (i % 400))
        spouse = make_id_number(area, born, 2 + 2 * (i % 400))
        number = f"CH{i:07d}"
        records.append(_household(number, f"测试路{i}号", area))
        records += _person(head, "测试甲", "male", born, area, number, "head")
        records += _person(spouse, "测试乙", "female", born, area, number, "spouse")
        heads.append(head)
    _load(node, records)
    return heads


# -- migration -------------------------------------------------------------------------------------------

MIG_CLERK = "user:chaos-mig-clerk"
#: Operation kinds of the migration workload, with their weights: a migration to its end (accept, approve,
#: the origin's move-out, automatic or by its clerk, the move-in once the certificate is attached); one the
#: applicant withdraws (before or right after the approval: a cancel or a compensation racing its permit); one
#: the destination abandons once the certificate arrived (the origin restores the person); two destinations
#: competing for one person (needs three nodes; exactly one may settle); one whose destination asks for a
#: reissue of the certificate before moving in (the origin revokes the first as reissued and sends a new one).
MIG_KINDS = (("mig.move", 6), ("mig.withdraw", 2), ("mig.abandon", 1), ("mig.compete", 1), ("mig.reissue", 1))
#: The end each kind must reach at the destination (per case; a competition: one settled, one refused).
MIG_END = {
    "mig.move": "settled",
    "mig.withdraw": "withdrawn",
    "mig.abandon": "abandoned",
    "mig.reissue": "settled",
}
ORIGIN_CLERK = "user:chaos-origin-clerk"
MIG_TERMINAL = ("settled", "refused", "withdrawn", "abandoned")


class MigrationWorkload:
    """Migrations of unique persons between the nodes through the migration service's entry points
    (``accept_migration`` and ``approve`` at the destination's window; the origin processes move out
    automatically, ``TONGBAN_MIGRATION_AUTOMATIC_MOVE_OUT``; a destination clerk thread calls ``move_in`` or
    ``abandon`` once a certificate is attached, or first ``request_reissue`` for ``mig.reissue``; at the origins
    of ``RunContext.manual_move_out`` an origin clerk thread calls ``origin.move_out`` for every task waiting).
    Every person migrates at most once, alone in a household."""

    name = "migration"

    def __init__(self, nodes: dict[str, NodeContext] | None = None) -> None:
        self.nodes: dict[str, NodeContext] = dict(nodes or {})
        self._own = nodes is None
        self.free: dict[str, list[str]] = {}
        self.households: dict[str, list[str]] = {}  # destination -> free empty household numbers
        self._ops: list[Operation] = []
        self._lock = threading.Lock()
        self._sweeping = threading.Lock()
        self._stop = threading.Event()
        self._clerk: threading.Thread | None = None
        self.clerk_errors: Counter[str] = Counter()
        self.manual: frozenset[str] = frozenset()
        # case number -> the certificate a reissue was asked for
        self.reissue_asked: dict[str, str | None] = {}
        self._waiting: dict[str, int] = {}  # per node: what the clerks found waiting at their last look
        self.moved_out_by_hand = 0

    def prepare(self, ctx: RunContext, planned: int) -> None:

        per_node = planned // len(ctx.db_urls) + 5
        self.manual = ctx.manual_move_out
        for code in ctx.db_urls:
            if code not in self.nodes:
                self.nodes[code] = _open(ctx, code)
            self.free[code], self.households[code] = _populate_movers(self.nodes[code], AREAS[code], per_node)
        if self._own:
            for node in self.nodes.values():
                _attach(node, ctx.data_dir)

    def next_operation(self, index: int, rng: random.Random) -> Operation | None:
        codes = sorted(self.nodes)
        kinds = [(k, w) for k, w in MIG_KINDS if k != "mig.compete" or len(codes) >= 3]
        kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        dest = rng.choice(codes)
        origins = [c for c in codes if c != dest and self.free[c]]
        if not origins or not self.households[dest]:
            return None
        origin = rng.choice(origins)
        subject = self.free[origin].pop(rng.randrange(len(self.free[origin])))
        rivals = []
        if kind == "mig.compete":
            others = [c for c in codes if c not in (dest, origin) and self.households[c]]
            if not others:
                kind = "mig.move"
            else:
                rivals = [rng.choice(others)]
        return Operation(id=f"{index}", kind=kind, node=dest, target=origin, subject=subject, rivals=rivals)

    def _accept(self, dest: str, op: Operation) -> str:
        from tongban.cases import window
        from tongban.migration import service as mig

        node = self.nodes[dest]
        with self._lock:
            household = self.households[dest].pop()
        actor = window.Actor(id=MIG_CLERK, office="OFF-CHAOS", division=AREAS[dest])
        applicant = window.Applicant(id_number=op.subject, phone=None, email=None, locale="zh_CN")
        view = mig.accept_migration(
            node,
            actor=actor,
            applicant=applicant,
            name="测试迁",
            matter="MIG-JOB",
            facts={},
            household_number=household,
            relation="head",
            origin_address="测试路",
            origin=op.target,
        )
        op.refs.append(view.number)
        return view.number

    def submit(self, op: Operation) -> None:
        import tongban.migration.service  # noqa: F401  (registers the mig.*.v1 types and handlers)
        from tongban.cases import window
        from tongban.migration import service as mig

        self._start_clerk()
        with self._lock:
            self._ops.append(op)
        try:
            dests = [op.node, *op.rivals]
            numbers = [self._accept(d, op) for d in dests]
            op.ref = numbers[0]
            for d, number in zip(dests, numbers, strict=True):
                actor = window.Actor(id=MIG_CLERK, office="OFF-CHAOS", division=AREAS[d])
                if op.kind == "mig.withdraw" and int(op.id.rsplit("-", 1)[-1]) % 2 == 0:
                    mig.withdraw(self.nodes[d], actor=actor, number=number, note="chaos: cancel")
                    continue
                mig.approve(self.nodes[d], actor=actor, number=number)
                if op.kind == "mig.withdraw":
                    mig.withdraw(self.nodes[d], actor=actor, number=number, note="chaos: compensation")
        except Exception as exc:  # the applicant is told; the classification looks for effects anyway
            op.error = f"{type(exc).__name__}: {exc}"[:200]

    def _start_clerk(self) -> None:
        with self._lock:
            if self._clerk is None:
                self._clerk = threading.Thread(target=self._clerk_loop, name="chaos-mig-clerk", daemon=True)
                self._clerk.start()

    def _clerk_loop(self) -> None:
        while not self._stop.wait(0.3):
            self.sweep()

    def sweep(self) -> None:
        """The clerks. At the origins that do not move out by themselves: move out every task waiting. At the
        destinations: move in (or, for ``mig.abandon``, abandon) every case of the run whose certificate is
        attached; for ``mig.reissue``, first ask for a reissue and move in once the new certificate is."""
        with self._sweeping:  # the clerk thread's and the quiesce's sweeps one at a time
            self._sweep()

    def _sweep(self) -> None:
        from tongban.cases import window
        from tongban.migration import origin as mig_origin
        from tongban.migration import service as mig
        from tongban.migration.tables import MigrationCaseRow

        for code in sorted(self.manual):
            node = self.nodes[code]
            try:
                waiting = [t.case_number for t in mig_origin.list_tasks(node)]
            except Exception as exc:
                self.clerk_errors[type(exc).__name__] += 1
                continue
            self._waiting[f"origin {code}"] = len(waiting)
            for number in waiting:
                try:
                    mig_origin.move_out(node, actor=ORIGIN_CLERK, case_number=number)
                    self.moved_out_by_hand += 1
                except Exception as exc:  # tried again on the next sweep (or closed meanwhile)
                    self.clerk_errors[type(exc).__name__] += 1
        for code, node in list(self.nodes.items()):
            try:
                with node.db.session() as s:
                    ready = list(
                        s.execute(
                            select(MigrationCaseRow.case_number, MigrationCaseRow.certificate_number).where(
                                MigrationCaseRow.state == "certificate_received"
                            )
                        )
                    )
            except Exception as exc:
                self.clerk_errors[type(exc).__name__] += 1
                continue
            self._waiting[code] = len(ready)
            # Which cases to abandon or reissue, read after the cases: an operation's case number is known
            # before its approval, so before its certificate can arrive (a sweep may last longer).
            with self._lock:
                abandon = {n for op in self._ops if op.kind == "mig.abandon" for n in op.refs}
                reissue = {n for op in self._ops if op.kind == "mig.reissue" for n in op.refs}
            actor = window.Actor(id=MIG_CLERK, office="OFF-CHAOS", division=AREAS[code])
            for number, certificate in ready:
                try:
                    if number in abandon:
                        mig.abandon(node, actor=actor, number=number, note="chaos: abandoned")
                    elif number in reissue and number not in self.reissue_asked:
                        mig.request_reissue(node, actor=actor, number=number)
                        self.reissue_asked[number] = certificate
                    elif number in reissue and self.reissue_asked[number] == certificate:
                        continue  # the new certificate is on its way
                    else:
                        mig.move_in(node, actor=actor, number=number)
                except Exception as exc:  # tried again on the next sweep
                    self.clerk_errors[type(exc).__name__] += 1

    def backlog(self) -> int:
        """Cases and tasks the clerks found waiting for them at their last look (a clerk slower than the
        arrivals: the run holds arrivals back meanwhile, and the quiesce gives them time)."""
        return sum(self._waiting.values())

    def settled(self, ops: list[Operation]) -> bool:
        from tongban.migration.tables import MigrationCaseRow, MigrationTaskRow

        self.sweep()
        for node in self.nodes.values():
            with node.db.session() as s:
                open_cases = s.scalar(
                    select(func.count())
                    .select_from(MigrationCaseRow)
                    .where(MigrationCaseRow.state.not_in(MIG_TERMINAL))
                )
                open_tasks = s.scalar(
                    select(func.count())
                    .select_from(MigrationTaskRow)
                    .where(MigrationTaskRow.state.not_in(("settled", "restored", "refused", "cancelled")))
                )
            if open_cases or open_tasks:
                return False
        return True

    def classify(self, ops: list[Operation], windows: list[Window]) -> tuple[list[Verdict], list[str]]:
        from tongban.migration.domain import CERTIFICATE_PAPER
        from tongban.migration.tables import MigrationCaseRow
        from tongban.papers.tables import PaperRow
        from tongban.registry.tables import Person, PersonState

        cases: dict[str, dict[str, list[MigrationCaseRow]]] = {}  # node -> id number -> its cases here
        active: dict[str, set[str]] = {}  # node -> id numbers actively registered
        certs: dict[str, Counter[str]] = {}  # origin -> case number -> certificates issued
        reissues: dict[str, dict[str, list[tuple[str, str | None, bool]]]] = {}  # origin -> case -> papers
        for code, node in self.nodes.items():
            with node.db.session() as s:
                by_person: dict[str, list[MigrationCaseRow]] = defaultdict(list)
                for row in s.scalars(select(MigrationCaseRow)):
                    s.expunge(row)
                    by_person[row.id_number].append(row)
                cases[code] = by_person
                active[code] = set(
                    s.scalars(
                        select(Person.id_number)
                        .join(PersonState, PersonState.person_id == Person.id)
                        .where(PersonState.status == "active")
                    )
                )
                by_case: dict[str, list[tuple[str, str | None, bool]]] = defaultdict(list)
                for ref, number, reissue_of, revoked in s.execute(
                    select(
                        PaperRow.subject_ref, PaperRow.number, PaperRow.reissue_of, PaperRow.revoked_at
                    ).where(PaperRow.type == CERTIFICATE_PAPER)
                ):
                    if ref:
                        by_case[ref].append((number, reissue_of, revoked is not None))
                reissues[code] = by_case
                certs[code] = Counter({ref: len(papers) for ref, papers in by_case.items()})

        verdicts: list[Verdict] = []
        asked: set[str] = set()
        for op in ops:
            dests = [op.node, *op.rivals]
            found = {d: cases[d].get(op.subject, []) for d in dests}
            asked.update(r.case_number for rows in found.values() for r in rows)
            where = [c for c in self.nodes if op.subject in active[c]]
            if len(where) > 1:
                verdicts.append(Verdict(op.id, DUPLICATED, f"person active at {', '.join(where)}"))
                continue
            if not any(found.values()):
                if op.ref is not None:
                    verdicts.append(Verdict(op.id, LOST, "accepted, but the destination has no such case"))
                else:
                    verdicts.append(Verdict(op.id, NOT_ACCEPTED, op.error or ""))
                continue
            if any(len(rows) > 1 for rows in found.values()):
                verdicts.append(Verdict(op.id, DUPLICATED, "two cases for one migration at one node"))
                continue
            rows = [found[d][0] for d in dests if found[d]]
            allowed = 2 if op.kind == "mig.reissue" else 1  # the first certificate and its reissue
            twice = [r.case_number for r in rows if certs[op.target][r.case_number] > allowed]
            if twice:
                verdicts.append(Verdict(op.id, DUPLICATED, f"{len(twice)} case(s) with two certificates"))
                continue
            still = [r.state for r in rows if r.state not in MIG_TERMINAL]
            if still:
                verdicts.append(Verdict(op.id, LOST, "accepted, still " + ", ".join(still)))
                continue
            states = sorted(r.state for r in rows)
            winners = [d for d in dests if found[d] and found[d][0].state == "settled"]
            if op.kind == "mig.compete":
                if len(rows) == 2 and len(winners) == 1 and "refused" in states:
                    expected_where = winners
                else:
                    verdicts.append(Verdict(op.id, UNEXPECTED, f"competition ended {states}"))
                    continue
            else:
                want = MIG_END[op.kind]
                if states != [want]:
                    verdicts.append(Verdict(op.id, UNEXPECTED, f"ended {states}, not {want}"))
                    continue
                expected_where = [op.node] if want == "settled" else [op.target]
            if where != expected_where:
                verdicts.append(
                    Verdict(op.id, UNEXPECTED, f"person active at {where or 'no node'}, not {expected_where}")
                )
                continue
            issued = sum(certs[op.target][r.case_number] for r in rows)
            if winners and issued == 0:
                verdicts.append(Verdict(op.id, UNEXPECTED, "settled without a certificate"))
                continue
            if op.kind == "mig.reissue":
                papers = reissues[op.target].get(rows[0].case_number, [])
                first = [p for p in papers if p[1] is None]
                again = [p for p in papers if p[1] is not None]
                if not (
                    len(first) == 1
                    and len(again) == 1
                    and again[0][1] == first[0][0]
                    and first[0][2]
                    and not again[0][2]
                    and rows[0].certificate_number == again[0][0]
                ):
                    verdicts.append(
                        Verdict(
                            op.id,
                            UNEXPECTED,
                            "not settled on a reissue that revoked the first certificate "
                            f"({len(first)} first, {len(again)} reissued)",
                        )
                    )
                    continue
            if op.error is not None:
                verdicts.append(
                    Verdict(op.id, RECOVERED, "finished although its submission reported an error")
                )
                continue
            end = max(r.updated_at for r in rows)
            hit = _hit_by(op, min(r.created_at for r in rows), end, windows)
            verdicts.append(Verdict(op.id, RECOVERED, f"through {hit}") if hit else Verdict(op.id, OK))

        unexpected: list[str] = []
        for code in self.nodes:
            extra = {r.case_number for rows in cases[code].values() for r in rows} - asked
            unexpected += [f"{code}: a migration case nobody asked for ({n})" for n in sorted(extra)]
        return verdicts, unexpected

    def close(self) -> None:
        self._stop.set()
        if self._clerk is not None:
            self._clerk.join(10)
        if self._own:
            for node in self.nodes.values():
                node.db.dispose()
        self.nodes.clear()


def _populate_movers(node: NodeContext, area: str, n: int) -> tuple[list[str], list[str]]:
    """``n`` persons alone in a household each (they may leave: nobody is left without a head) and ``n``
    empty households to move into; their ID numbers and the households' numbers."""
    from tongban.idnum.domain import make_id_number

    people, empty = [], []
    records: list[dict[str, Any]] = []
    for i in range(n):
        born = date(1985, 1, 1) + timedelta(days=i // 400)
        id_number = make_id_number(area, born, 1 + i % 400)
        for number in (f"MO{i:07d}", f"MI{i:07d}"):
            records.append(_household(number, f"迁移路{number}号", area))
        sex = "male" if (1 + i % 400) % 2 else "female"
        records += _person(id_number, "测试迁", sex, born, area, f"MO{i:07d}", "head")
        people.append(id_number)
        empty.append(f"MI{i:07d}")
    _load(node, records)
    return people, empty


class MixedWorkload:
    """CERT and migration operations in one run (the default): ``cert_share`` of the operations are
    certificate requests, the rest migrations; each workload classifies its own."""

    name = "mixed"

    def __init__(self, cert_share: float = 0.5) -> None:
        self.cert = CertWorkload()
        self.mig: MigrationWorkload | None = None
        self.cert_share = cert_share

    def prepare(self, ctx: RunContext, planned: int) -> None:
        # Each its share of the planned operations (which carry a margin already); one that runs out hands
        # its turn to the other.
        self.cert.prepare(ctx, int(planned * self.cert_share) + 10)
        self.mig = MigrationWorkload(self.cert.nodes)
        self.mig.prepare(ctx, int(planned * (1 - self.cert_share)) + 10)

    def _of(self, op: Operation) -> Any:
        return self.cert if op.kind.startswith("cert.") else self.mig

    def next_operation(self, index: int, rng: random.Random) -> Operation | None:
        assert self.mig is not None
        first, second = (self.cert, self.mig) if rng.random() < self.cert_share else (self.mig, self.cert)
        return first.next_operation(index, rng) or second.next_operation(index, rng)

    def submit(self, op: Operation) -> None:
        self._of(op).submit(op)

    def backlog(self) -> int:
        return self.mig.backlog() if self.mig is not None else 0

    def settled(self, ops: list[Operation]) -> bool:
        assert self.mig is not None
        return self.cert.settled(ops) and self.mig.settled(ops)

    def classify(self, ops: list[Operation], windows: list[Window]) -> tuple[list[Verdict], list[str]]:
        assert self.mig is not None
        cert_ops = [o for o in ops if o.kind.startswith("cert.")]
        mig_ops = [o for o in ops if not o.kind.startswith("cert.")]
        v1, u1 = self.cert.classify(cert_ops, windows)
        v2, u2 = self.mig.classify(mig_ops, windows)
        return v1 + v2, u1 + u2

    def close(self) -> None:
        if self.mig is not None:
            self.mig.close()
        self.cert.close()


WORKLOADS: dict[str, Any] = {"mixed": MixedWorkload, "cert": CertWorkload, "migration": MigrationWorkload}
