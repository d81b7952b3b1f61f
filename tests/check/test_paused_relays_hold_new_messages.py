"""Checking nodes that run elsewhere: the checker pauses their relays (new messages stay queued, what was
published is still applied and receipted), reads a cut in which a queued locator update is not a finding, and
resumes the relays however the reading ends."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from check_support import build_small_nation
from sqlalchemy import select

from tongban.cases import service as cases
from tongban.core.checks import CheckSettings, backlog, check_nation, paused_relays, run_check
from tongban.exchange import control
from tongban.exchange.jobs import ExchangeRunner
from tongban.exchange.locator import LOCATOR_CODE, id_digest, locator_key
from tongban.exchange.service import exchange_of
from tongban.exchange.tables import LocatorEntryRow
from tongban.exchange.transport import EmbeddedTransport
from tongban.registry import service as registry
from tongban.registry.tables import Household, Person, PersonState

BJ, GD = "110000", "440000"


def _wait(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_paused_relays(backend: str, tmp_path: Path, sqlite_template: Path, pg_factory: Any) -> None:
    nation = build_small_nation(tmp_path, backend, sqlite_template, pg_factory, people=60)
    nodes = {code: nation.open(code) for code in (BJ, GD, LOCATOR_CODE)}
    every = list(nodes.values())
    runner = ExchangeRunner([exchange_of(n) for n in every], EmbeddedTransport)  # "the running nodes"
    runner.start()
    settings = CheckSettings(drain_timeout_s=30)
    try:
        assert _wait(lambda: all(backlog(n).pending == 0 for n in every))  # the import's updates are in
        bj = nodes[BJ]
        with bj.db.session() as s:
            number = s.scalars(
                select(Person.id_number)
                .join(PersonState, PersonState.person_id == Person.id)
                .where(PersonState.status == "active")
                .where(
                    Person.id.not_in(
                        select(Household.head_person_id).where(Household.head_person_id.is_not(None))
                    )
                )
                .limit(1)
            ).one()
        digest = id_digest(locator_key(nation.data_dir), number)
        case = cases.accept_case(
            nodes[GD], matter="MIG-JOB", applicant="person:x-1", office="o-1", actor="u:1"
        )

        with paused_relays(every, settings=settings) as drained:
            assert drained.mode == "paused" and drained.complete
            assert control.paused_until(bj.db) is not None
            registry.mark_in_transit(bj, actor="test", id_number=number, case_ref=case.number)
            time.sleep(1.0)
            assert backlog(bj).queued == 1  # held back by the pause
            assert _entry(nodes[LOCATOR_CODE], digest) == (BJ, "registered")
            report = check_nation(
                {c: n for c, n in nodes.items()},
                locator_key=locator_key(nation.data_dir),
                drained=drained,
                settings=settings,
            )
            assert report.findings == []  # the locator update still queued is not judged
        assert control.paused_until(bj.db) is None
        assert _wait(lambda: _entry(nodes[LOCATOR_CODE], digest) == (BJ, "in_transit"))

        # The whole command's path: node databases given by URL, relays paused while reading.
        urls = {e.code: str(e.db_url) for e in nation.entries}
        report = run_check(data_dir=nation.data_dir, node_urls=urls, settings=settings)
        assert report.exit_code == 0, [f.to_json() for f in report.findings]
        assert report.drained is not None and report.drained.mode == "paused"
        assert control.paused_until(bj.db) is None
    finally:
        runner.stop()
        for node in every:
            node.db.dispose()


def _entry(node: Any, digest: str) -> tuple[str, str] | None:
    with node.db.session() as s:
        row = s.get(LocatorEntryRow, digest)
        return None if row is None else (row.node, row.status)
