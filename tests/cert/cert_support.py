"""Support of the CERT tests: two nodes (Beijing accepts, Shanghai keeps the register) and the national
locator on one exchange, with the national directory of a synthetic nation, and people registered in
Shanghai (reported to the locator as they are registered)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from tests.conftest import test_settings
from tests.exchange.exchange_support import fast_settings

import tongban.cert.service  # noqa: F401  (registers the CERT message types and handlers)
from tongban.cases import window
from tongban.cases.tables import NotificationRow
from tongban.cert.tables import CertRequestRow
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.exchange import directory_admin
from tongban.exchange.directory import DirectoryHolder
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.keys import node_key_provider
from tongban.exchange.locator import LOCATOR_CODE, install_registration_listener
from tongban.exchange.service import NodeExchange, exchange_of
from tongban.exchange.tables import InboxRow, OutboxRow
from tongban.exchange.transport import EmbeddedTransport, Transport
from tongban.idnum.domain import make_id_number
from tongban.papers.directory import DirectorySignerSource
from tongban.papers.service import KEYS_SERVICE
from tongban.registry import service as registry

A, B = "110000", "310000"
CLERK = window.Actor(id="user:clerk-a", office="OFF-A", division="110105")
REGISTRAR = "user:registrar-b"
SUBJECT = make_id_number("310104", date(1980, 5, 17), 11)  # registered in Shanghai, with a wife and a son
WIFE = make_id_number("310104", date(1982, 3, 2), 22)
SON = make_id_number("310104", date(2010, 9, 1), 31)
LONER = make_id_number("310104", date(1975, 1, 9), 41)  # alone in his household
STRANGER = make_id_number("310104", date(1990, 7, 7), 51)  # never registered anywhere
GONE = make_id_number("310104", date(1950, 2, 2), 61)  # registration cancelled (emigration)


def make_nation(data_dir: Path) -> Path:
    now = datetime.now(UTC) - timedelta(days=1)
    directory_admin.init(data_dir, now=now)
    directory_admin.add_node(data_dir, code=A, name="北京市", now=now)
    directory_admin.add_node(data_dir, code=B, name="上海市", now=now)
    directory_admin.add_node(data_dir, code=LOCATOR_CODE, name="全国人口定位", now=now)
    return data_dir


def locator_database(tmp_path: Path, sqlite_template: Path) -> Database:
    """The locator's own database (SQLite: the backend under test is that of the two provinces)."""
    target = tmp_path / "locator.sqlite3"
    shutil.copyfile(sqlite_template, target)
    return Database(f"sqlite:///{target}")


def make_node(code: str, db: Database, data_dir: Path) -> NodeContext:
    settings = fast_settings()
    node = NodeContext(code=code, name=code, db=db, settings=test_settings(data_dir))
    holder = DirectoryHolder(data_dir, grace=timedelta(seconds=settings.directory_grace_s), clock=node.clock)
    node.services["exchange"] = NodeExchange(
        node=node, keys=node_key_provider(data_dir, code), directory=holder, settings=settings
    )
    node.services[KEYS_SERVICE] = DirectorySignerSource(holder, data_dir)
    install_registration_listener(node)  # registration changes reach the locator
    return node


def located(b: NodeContext, locator: NodeContext) -> bool:
    """Whether the locator has applied every registration change the hukou node reported."""
    with b.db.session() as s:
        sent = len(list(s.scalars(select(OutboxRow.id).where(OutboxRow.recipient == LOCATOR_CODE))))
    with locator.db.session() as s:
        applied = len(list(s.scalars(select(InboxRow.seq).where(InboxRow.state == "applied"))))
    return applied >= sent


def start(
    nodes: list[NodeContext], transport: Callable[[], Transport] = EmbeddedTransport, timeout: float = 30
) -> ExchangeRunner:
    """Start the exchange of ``nodes`` (A, B, the locator) and wait until the locator knows B's people."""
    from tests.exchange.exchange_support import wait_until

    runner = ExchangeRunner([exchange_of(n) for n in nodes], transport)
    runner.start()
    if not wait_until(lambda: located(nodes[1], nodes[2]), timeout):
        runner.stop()
        raise AssertionError("the locator did not learn the hukou node's registrations")
    return runner


def person(
    node: NodeContext, household: str, relation: str, id_number: str, name: str, born: date, sex: str
) -> None:
    registry.register_person(
        node,
        actor=REGISTRAR,
        household_number=household,
        relation=relation,
        event="moved_in",
        name=name,
        sex=sex,
        birth_date=born,
        ethnicity="01",
        birthplace="310104",
        id_number=id_number,
        on_date=date(2020, 1, 1),
    )


def populate(node: NodeContext) -> None:
    """The synthetic register of the hukou node (no real people)."""
    for number in ("H1", "H2", "H3"):
        registry.create_household(
            node,
            actor=REGISTRAR,
            number=number,
            kind="family",
            address=f"上海市徐汇区测试路{number[1:]}号",
            division_code="310104",
            on_date=date(2020, 1, 1),
        )
    person(node, "H1", "head", SUBJECT, "测试甲", date(1980, 5, 17), "male")
    person(node, "H1", "spouse", WIFE, "测试乙", date(1982, 3, 2), "female")
    person(node, "H1", "child", SON, "测试丙", date(2010, 9, 1), "male")
    person(node, "H2", "head", LONER, "测试丁", date(1975, 1, 9), "male")
    person(node, "H3", "head", GONE, "测试戊", date(1950, 2, 2), "male")
    registry.cancel_registration(
        node, actor=REGISTRAR, id_number=GONE, reason="emigration", on_date=date(2024, 6, 1)
    )


def applicant(id_number: str, locale: str = "zh_CN") -> window.Applicant:
    return window.Applicant(id_number=id_number, phone="13800000000", email=None, locale=locale)


def request_row(node: NodeContext, case_number: str) -> CertRequestRow | None:
    with node.db.session() as s:
        row = s.scalars(select(CertRequestRow).where(CertRequestRow.case_number == case_number)).one_or_none()
        if row is not None:
            s.expunge(row)
        return row


def notifications(node: NodeContext, case_number: str) -> list[NotificationRow]:
    with node.db.session() as s:
        rows = s.scalars(
            select(NotificationRow)
            .where(NotificationRow.case_number == case_number)
            .order_by(NotificationRow.id)
        ).all()
        for r in rows:
            s.expunge(r)
        return list(rows)


@dataclass
class Nation:
    a: NodeContext
    b: NodeContext
    locator: NodeContext
    data_dir: Path


def make_three(database: Database, other_db: Database, locator_db: Database, data_dir: Path) -> Nation:
    """Beijing, Shanghai (populated) and the locator, in a fresh nation under ``data_dir``."""
    make_nation(data_dir)
    a, b = make_node(A, database, data_dir), make_node(B, other_db, data_dir)
    loc = make_node(LOCATOR_CODE, locator_db, data_dir)
    populate(b)
    return Nation(a, b, loc, data_dir)
