"""A generated nation includes the national locator: `nation init` lists it in the directory and seeds it with
everyone registered, `serve --data-dir` hosts it with the nodes, a signed question is answered, and a
registration change made afterwards reaches it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from exchange_support import wait_until
from sqlalchemy import func, select
from tests.conftest import test_settings

from tongban.core.node import NodeContext, read_manifest
from tongban.exchange import directory_admin
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE, answer_for, ask_locator, id_digest, locator_key
from tongban.exchange.tables import LocatorEntryRow
from tongban.idnum.domain import make_id_number
from tongban.nation.build import build_nation
from tongban.registry import service
from tongban.registry.tables import Person, PersonState
from tongban.web.runtime import build_runtime

ACTOR = "clerk-test"


def _active_person(node: NodeContext) -> str:
    with node.db.session() as s:
        number = s.scalar(
            select(Person.id_number)
            .join(PersonState, PersonState.person_id == Person.id)
            .where(PersonState.status == "active")
            .order_by(Person.id)
            .limit(1)
        )
    assert number is not None
    return str(number)


def _entry(locator: NodeContext, digest: str) -> tuple[str, str] | None:
    with locator.db.session() as s:
        row = s.get(LocatorEntryRow, digest)
        return None if row is None else (row.node, row.status)


def test_the_generated_nation_serves_the_locator(tmp_path: Path) -> None:
    settings = test_settings(tmp_path).model_copy(update={"nats_url": None})  # the embedded transport
    build_nation(settings, ["110000", "310000"], people=40, seed=7, demo_accounts=False)
    assert directory_admin.show(tmp_path, now=datetime.now(UTC)).node(LOCATOR_CODE) is not None
    assert LOCATOR_CODE not in [e.code for e in read_manifest(tmp_path)]  # not a province: no pages

    runtime = build_runtime(settings)
    runner = runtime.extras["exchange"]
    assert isinstance(runner, ExchangeRunner)
    try:
        locator = runtime.extras["locator"]
        assert isinstance(locator, NodeContext) and locator.code == LOCATOR_CODE
        assert LOCATOR_CODE in [ex.code for ex in runner.nodes]
        with locator.db.session() as s:
            seeded = s.scalar(select(func.count()).select_from(LocatorEntryRow))
        assert seeded is not None and seeded > 0

        # Beijing asks where a person of Shanghai is registered: the locator answers.
        bj, sh = runtime.nodes["110000"], runtime.nodes["310000"]
        number = _active_person(sh)
        with bj.db.transaction() as s:
            question = ask_locator(s, node=bj, id_number=number)

        def answered() -> bool:
            with bj.db.session() as s:
                return answer_for(s, question) is not None

        assert wait_until(answered, 30)
        with bj.db.session() as s:
            answer = answer_for(s, question)
            assert answer is not None
            assert (answer.node, answer.status) == ("310000", "registered")

        # A registration made now in Beijing reaches the locator through the exchange.
        service.create_household(
            bj, actor=ACTOR, number="HLOC1", kind="family", address="朝阳区测试路9号", division_code="110105"
        )
        newcomer = make_id_number("110105", date(1991, 3, 4), 977)
        service.register_person(
            bj,
            actor=ACTOR,
            household_number="HLOC1",
            relation="head",
            event="moved_in",
            id_number=newcomer,
            name="李四",
            sex="male",
            birth_date=date(1991, 3, 4),
            ethnicity="01",
            birthplace="110105",
            on_date=date(2020, 1, 1),
        )
        digest = id_digest(locator_key(tmp_path), newcomer)
        assert wait_until(lambda: _entry(locator, digest) == ("110000", "registered"), 30)
    finally:
        runner.stop()
        for node in [*runtime.nodes.values(), runtime.extras["locator"]]:
            node.db.dispose()
