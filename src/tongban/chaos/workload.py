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
        from tongban.exchange.runtime import node_exchange
        from tongban.exchange.settings import ExchangeSettings

        per_node = planned // len(ctx.db_urls) + 5  # targets are drawn at random: a margin
        for code in ctx.db_urls:
            node = _open(ctx, code)
            self.nodes[code] = node
            self.free[code] = _populate(node, AREAS[code], per_node)
        for node in self.nodes.values():
            # For routing and sending only: the node processes run the exchange.
            node_exchange(node, ctx.data_dir, ExchangeSettings())

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


def _hit_by(op: Operation, start: datetime, end: datetime, windows: list[Window]) -> str | None:
    for w in windows:
        if (
            w.start <= end
            and w.end >= start
            and (w.target in (op.node, op.target) or w.target.startswith("nats"))
        ):
            return w.target
    return None


def _populate(node: NodeContext, area: str, households: int) -> list[str]:
    """``households`` synthetic households of a head and a spouse in ``area``; the heads' ID numbers."""
    from tongban.core import migrate
    from tongban.idnum.domain import make_id_number
    from tongban.registry import service as registry

    migrate.upgrade(node.db)
    heads = []
    for i in range(households):
        born = date(1960, 1, 1) + timedelta(days=i // 400)
        head = make_id_number(area, born, 1 + 2 * (i % 400))
        spouse = make_id_number(area, born, 2 + 2 * (i % 400))
        number = f"CH{i:07d}"
        registry.create_household(
            node,
            actor="system:chaos",
            number=number,
            kind="family",
            address=f"测试路{i}号",
            division_code=area,
            on_date=date(2020, 1, 1),
        )
        for id_number, relation, sex, name in (
            (head, "head", "male", "测试甲"),
            (spouse, "spouse", "female", "测试乙"),
        ):
            registry.register_person(
                node,
                actor="system:chaos",
                household_number=number,
                relation=relation,
                event="moved_in",
                name=name,
                sex=sex,
                birth_date=born,
                ethnicity="01",
                birthplace=area,
                id_number=id_number,
                on_date=date(2020, 1, 1),
            )
        heads.append(head)
    return heads


WORKLOADS: dict[str, Any] = {"cert": CertWorkload}
