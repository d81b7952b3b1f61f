"""Support of the migration tests: a small synthetic nation on one embedded exchange, with the national
locator: Beijing (110000) and Guangdong (440000) are destinations, Shanghai (310000) the origin of everyone
who migrates; ``assert_nation_consistent`` checks the invariants the checker (``tongban check``) will check."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import test_settings
from tests.exchange.exchange_support import fast_settings, node_settings, wait_until

import tongban.migration.service  # noqa: F401  (registers the mig.*.v1 types and handlers)
from tongban.cases import window
from tongban.cases.domain import CaseState
from tongban.cases.tables import CaseRow, NotificationRow, TaskRow
from tongban.core.checks import check_nation
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange import directory_admin
from tongban.exchange.directory import DirectoryHolder
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.keys import node_key_provider
from tongban.exchange.locator import LOCATOR_CODE, id_digest, install_registration_listener, locator_key
from tongban.exchange.service import NodeExchange, exchange_of
from tongban.exchange.tables import InboxRow, LocatorEntryRow, OutboxRow
from tongban.exchange.transport import Transport
from tongban.idnum.domain import make_id_number
from tongban.migration import service as mig
from tongban.migration.common import SETTINGS_SERVICE, MigrationSettings
from tongban.migration.tables import MigrationCaseRow, MigrationOpenRow, MigrationTaskRow
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.papers.tables import PaperRow
from tongban.registry import service as registry
from tongban.registry.tables import JournalEntry, Person, PersonState

BJ, SH, GD = "110000", "310000", "440000"
NAMES = {BJ: "北京市", SH: "上海市", GD: "广东省", LOCATOR_CODE: "全国人口定位"}
CLERK_BJ = window.Actor(id="user:clerk-bj", office="OFF-BJ", division="110105")
CLERK_GD = window.Actor(id="user:clerk-gd", office="OFF-GD", division="440103")
REGISTRAR = "user:registrar"
ORIGIN_CLERK = "user:clerk-sh"

# Shanghai's register (synthetic people).
HEAD = make_id_number("310104", date(1980, 5, 17), 11)  # heads H1 with a wife and a son
WIFE = make_id_number("310104", date(1982, 3, 2), 22)
SON = make_id_number("310104", date(2007, 9, 1), 31)
LONER = make_id_number("310104", date(1975, 1, 9), 41)  # alone in H2
GRAD = make_id_number("310104", date(2002, 6, 6), 62)  # in H3 with her father
GRAD_FATHER = make_id_number("310104", date(1970, 6, 6), 71)
ELDER = make_id_number("310104", date(1958, 4, 4), 82)  # alone in H4
STRANGER = make_id_number("310104", date(1990, 7, 7), 51)  # never registered anywhere
# Beijing's register: a same-city mover, and the sponsors the migrants join.
LOCAL = make_id_number("110105", date(1985, 8, 8), 13)


def make_nation(data_dir: Path) -> Path:
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(data_dir, now=now)
    for code, name in NAMES.items():
        directory_admin.add_node(data_dir, code=code, name=name, now=now)
    return data_dir


def make_node(code: str, db: Database, data_dir: Path, *, automatic: bool = False) -> NodeContext:
    settings = fast_settings()
    node = NodeContext(code=code, name=NAMES[code], db=db, settings=test_settings(data_dir))
    holder = DirectoryHolder(data_dir, grace=timedelta(seconds=settings.directory_grace_s), clock=node.clock)
    node.services["exchange"] = NodeExchange(
        node=node, keys=node_key_provider(data_dir, code), directory=holder, settings=settings
    )
    node.services[KEYS_SERVICE] = DirectorySignerSource(holder, data_dir)
    # A loaded machine answers the locator slowly; a test waits longer than a window would.
    node.services[SETTINGS_SERVICE] = MigrationSettings(automatic_move_out=automatic, locator_wait_s=20.0)
    if code != LOCATOR_CODE:
        install_registration_listener(node)
    return node


def add_household(node: NodeContext, number: str, division: str) -> None:
    registry.create_household(
        node,
        actor=REGISTRAR,
        number=number,
        kind="family",
        address=f"测试地址{number}号",
        division_code=division,
        on_date=date(2020, 1, 1),
    )


def add_person(node: NodeContext, household: str, relation: str, id_number: str, name: str, sex: str) -> None:
    registry.register_person(
        node,
        actor=REGISTRAR,
        household_number=household,
        relation=relation,
        event="moved_in",
        name=name,
        sex=sex,
        birth_date=date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
        ethnicity="01",
        birthplace=id_number[:6],
        id_number=id_number,
        on_date=date(2020, 1, 1),
    )


def populate_origin(node: NodeContext) -> None:
    for number in ("H1", "H2", "H3", "H4"):
        add_household(node, number, "310104")
    add_person(node, "H1", "head", HEAD, "测试甲", "male")
    add_person(node, "H1", "spouse", WIFE, "测试乙", "female")
    add_person(node, "H1", "child", SON, "测试丙", "male")
    add_person(node, "H2", "head", LONER, "测试丁", "male")
    add_person(node, "H3", "head", GRAD_FATHER, "测试戊", "male")
    add_person(node, "H3", "child", GRAD, "测试己", "female")
    add_person(node, "H4", "head", ELDER, "测试庚", "female")


def populate_destination(node: NodeContext, division: str) -> None:
    for number in ("D1", "D2"):
        add_household(node, number, division)
    if node.code == BJ:
        add_household(node, "D3", "110108")  # another district of the same city
        add_person(node, "D1", "head", LOCAL, "测试辛", "male")


def applicant(id_number: str, locale: str = "zh_CN") -> window.Applicant:
    return window.Applicant(id_number=id_number, phone="13800000000", email=None, locale=locale)


@dataclass
class MigNation:
    """The nodes of a test and the exchange running between them."""

    nodes: dict[str, NodeContext]
    runner: ExchangeRunner
    data_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"MigNation({', '.join(self.nodes)})"

    @property
    def bj(self) -> NodeContext:
        return self.nodes[BJ]

    @property
    def sh(self) -> NodeContext:
        return self.nodes[SH]

    @property
    def gd(self) -> NodeContext:
        return self.nodes[GD]

    @property
    def locator(self) -> NodeContext:
        return self.nodes[LOCATOR_CODE]


def fresh_db(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any, name: str) -> Database:
    if backend == "sqlite":
        target = tmp_path / f"{name}.sqlite3"
        shutil.copyfile(sqlite_template, target)
        return Database(f"sqlite:///{target}", node_settings(tmp_path))
    from tests.conftest import missing_service

    if pg_factory is None:
        missing_service("PostgreSQL")
    return Database(pg_factory.new(), node_settings(tmp_path))


def start_nation(
    database: Database,
    make_db: Callable[[str], Database],
    tmp_path: Path,
    transport: Callable[[], Transport],
    *,
    automatic: bool = False,
) -> MigNation:
    data_dir = make_nation(tmp_path / "nation")
    dbs = {BJ: database, SH: make_db("sh"), GD: make_db("gd"), LOCATOR_CODE: make_db("loc")}
    nodes = {code: make_node(code, db, data_dir, automatic=automatic) for code, db in dbs.items()}
    populate_origin(nodes[SH])
    populate_destination(nodes[BJ], "110105")
    populate_destination(nodes[GD], "440103")
    runner = ExchangeRunner([exchange_of(n) for n in nodes.values()], transport)
    runner.start()
    nation = MigNation(nodes=nodes, runner=runner, data_dir=data_dir)
    # The locator learns of the populated registers through the exchange; routing asks it, so a test starts
    # once it knows everyone (as a production locator is seeded before the nodes take applications).
    if not wait_until(lambda: drained(nation), 60):
        runner.stop()
        raise AssertionError("the locator did not learn of the populated registers in time")
    return nation


def stop_nation(nation: MigNation) -> Iterator[None]:
    try:
        yield
    finally:
        nation.runner.stop()


# -- reading ---------------------------------------------------------------------------------------------


def mig_state(node: NodeContext, number: str) -> str | None:
    with node.db.session() as s:
        row = s.scalars(select(MigrationCaseRow).where(MigrationCaseRow.case_number == number)).one_or_none()
        return None if row is None else row.state


def task_state(node: NodeContext, number: str) -> str | None:
    with node.db.session() as s:
        row = s.scalars(select(MigrationTaskRow).where(MigrationTaskRow.case_number == number)).one_or_none()
        return None if row is None else row.state


def wait_state(node: NodeContext, number: str, *states: str, timeout: float = 30) -> bool:
    return wait_until(lambda: mig_state(node, number) in states, timeout)


def wait_task(node: NodeContext, number: str, *states: str, timeout: float = 30) -> bool:
    return wait_until(lambda: task_state(node, number) in states, timeout)


def status_at(node: NodeContext, id_number: str) -> str | None:
    with node.db.session() as s:
        person = s.scalars(select(Person).where(Person.id_number == id_number)).one_or_none()
        if person is None:
            return None
        state = s.get(PersonState, person.id)
        return None if state is None else state.status


def notifications(node: NodeContext, number: str) -> list[NotificationRow]:
    with node.db.session() as s:
        rows = s.scalars(
            select(NotificationRow).where(NotificationRow.case_number == number).order_by(NotificationRow.id)
        ).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


def drained(nation: MigNation) -> bool:
    """Nothing in flight: every outbox row receipted or parked, every inbox row applied or parked."""
    for node in nation.nodes.values():
        with node.db.session() as s:
            if s.scalar(
                select(func.count()).select_from(OutboxRow).where(OutboxRow.state.in_(["queued", "sent"]))
            ):
                return False
            if s.scalar(
                select(func.count()).select_from(InboxRow).where(InboxRow.state.in_(["received", "waiting"]))
            ):
                return False
    return True


def stuck(nation: MigNation) -> list[tuple[str, str, str, str | None]]:
    """Inbox rows not applied (waiting or parked), with their errors: what to look at when a saga hangs."""
    found = []
    for code, node in nation.nodes.items():
        with node.db.session() as s:
            for row in s.scalars(select(InboxRow).where(InboxRow.state.in_(["waiting", "parked"]))):
                found.append((code, row.type, row.state, row.error))
    return found


def assert_nation_consistent(nation: MigNation, people: list[str], *, timeout: float = 30) -> None:
    """The invariants, by direct queries of the migration's own tables and then through ``tongban check``'s
    ``check_nation``: after the messages in flight drained,

    - every person is active in exactly one node, or in transit at exactly one node owned by an open case of
      the node the ``case_ref`` names (the destination case number starts with its node code), or cancelled;
    - every open case and task has a live deadline;
    - no case has two permits or two certificates in force (papers' ``subject_ref`` = the case number);
    - the locator agrees with the registries (node and status, and the owning case of a person in transit);
    - no open-migration mark outlives its migration.
    """
    assert wait_until(lambda: drained(nation), timeout), "messages still in flight"
    registries = {c: n for c, n in nation.nodes.items() if c != LOCATOR_CODE}
    key = locator_key(nation.data_dir)
    for id_number in people:
        places: list[tuple[str, str, str | None]] = []
        for code, node in registries.items():
            with node.db.session() as s:
                person = s.scalars(select(Person).where(Person.id_number == id_number)).one_or_none()
                if person is None:
                    continue
                state = s.get(PersonState, person.id)
                assert state is not None
                last = s.scalars(
                    select(JournalEntry)
                    .where(JournalEntry.person_id == person.id)
                    .order_by(JournalEntry.seq.desc())
                    .limit(1)
                ).one()
                places.append((code, state.status, last.case_ref))
        active = [p for p in places if p[1] == "active"]
        transit = [p for p in places if p[1] == "in_transit"]
        assert len(active) + len(transit) <= 1, (id_number, places)
        if places and not any(p[1] in ("cancelled", "deceased") for p in places):
            assert len(active) + len(transit) == 1, (id_number, places)
        expected: tuple[str, str, str | None] | None = None
        if active:
            expected = (active[0][0], "registered", None)
        for code, _, case_ref in transit:
            assert case_ref is not None, (id_number, places)
            owner = registries[case_ref[:6]]
            with owner.db.session() as s:
                case = s.scalars(select(CaseRow).where(CaseRow.number == case_ref)).one()
                assert case.state != CaseState.CLOSED.value, (id_number, case_ref, "closed owner")
            expected = (code, "in_transit", case_ref)
        if expected is not None:
            with nation.locator.db.session() as s:
                entry = s.get(LocatorEntryRow, id_digest(key, id_number))
                assert entry is not None, id_number
                assert (entry.node, entry.status, entry.case_ref) == expected, (id_number, places)
    now = datetime.now(UTC)
    for node in registries.values():
        with node.db.session() as s:
            for case in s.scalars(select(CaseRow).where(CaseRow.state != CaseState.CLOSED.value)):
                live = case.materials_deadline_at if case.state == "awaiting_materials" else case.deadline_at
                assert live is not None, case.number
            for task in s.scalars(select(TaskRow).where(TaskRow.state != "closed")):
                assert task.deadline_at is not None, task.ref
            twice = s.execute(
                select(PaperRow.subject_ref, PaperRow.type, func.count())
                .where(PaperRow.subject_ref.is_not(None), PaperRow.revoked_at.is_(None))
                .where(PaperRow.type.in_(["mig.permit", "mig.certificate"]))
                .group_by(PaperRow.subject_ref, PaperRow.type)
                .having(func.count() > 1)
            ).all()
            assert not twice, twice
            open_cases = {
                r.case_number
                for r in s.scalars(select(MigrationCaseRow))
                if r.state in ("accepted", "permit_sent", "certificate_received")
            } | {
                r.case_number
                for r in s.scalars(select(MigrationTaskRow))
                if r.state in ("received", "moved_out")
            }
            marks = set(s.scalars(select(MigrationOpenRow.case_number)))
            assert marks <= open_cases, (node.code, marks - open_cases)
    del now
    # And the nation's own invariant checker (``tongban check``), over every node, after the drain above.
    report = check_nation(registries, locator=nation.locator, locator_key=key)
    assert report.findings == [], [f.to_json() for f in report.findings]


def facts_for(matter: str) -> dict[str, Any]:
    return {
        "MIG-SPOUSE": {"marriage_duration": "5y"},
        "MIG-PARENT": {"parent_age": 66},
    }.get(matter, {})


def accept(
    nation: MigNation,
    node: NodeContext,
    id_number: str,
    matter: str = "MIG-JOB",
    *,
    household: str = "D1",
    facts: dict[str, Any] | None = None,
    locale: str = "zh_CN",
    origin: str | None = None,
) -> str:
    view = mig.accept_migration(
        node,
        actor=CLERK_BJ if node.code == BJ else CLERK_GD,
        applicant=applicant(id_number, locale),
        name="测试",
        matter=matter,
        facts=facts_for(matter) if facts is None else facts,
        household_number=household,
        relation="other_relative" if (node.code, household) == (BJ, "D1") else "head",
        origin_address="上海市徐汇区测试路",
        origin=origin,
    )
    return view.number
