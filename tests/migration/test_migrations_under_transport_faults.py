"""With a transport that drops, duplicates, delays and reorders, concurrent migrations (every matter, a
withdrawal after the permit, two destinations competing for one person) still end once each: one move-in per
settled case, one certificate per moved-out case, the competing person won by exactly one destination, and the
nation consistent once the messages drained."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    CLERK_BJ,
    CLERK_GD,
    ELDER,
    GRAD,
    LONER,
    SH,
    SON,
    WIFE,
    MigNation,
    accept,
    assert_nation_consistent,
    mig_state,
    start_nation,
    status_at,
)

from tongban.core.db import Database
from tongban.exchange.transport import EmbeddedTransport, Faults, FaultyTransport
from tongban.migration import service as mig
from tongban.papers.tables import PaperRow

TERMINAL = ("settled", "refused", "withdrawn", "abandoned")


@pytest.fixture
def faulty(database: Database, make_db: Any, tmp_path: Path) -> Iterator[tuple[MigNation, FaultyTransport]]:
    transport = FaultyTransport(
        EmbeddedTransport(), Faults(drop=0.2, duplicate=0.4, delay=0.3, reorder=0.3), 7
    )
    n = start_nation(database, make_db, tmp_path, lambda: transport, automatic=True)
    try:
        yield n, transport
    finally:
        n.runner.stop()


def test_concurrent_migrations_end_once_through_a_faulty_transport(
    faulty: tuple[MigNation, FaultyTransport],
) -> None:
    nation, transport = faulty
    bj, gd, sh = nation.bj, nation.gd, nation.sh
    plan = [(WIFE, "MIG-SPOUSE"), (SON, "MIG-STU"), (GRAD, "MIG-GRAD"), (ELDER, "MIG-PARENT")]
    numbers = {
        who: accept(nation, bj, who, matter, household="D2" if who == WIFE else "D1") for who, matter in plan
    }
    rival_bj, rival_gd = accept(nation, bj, LONER, household="D1"), accept(nation, gd, LONER)
    for number in [*numbers.values(), rival_bj]:
        mig.approve(bj, actor=CLERK_BJ, number=number)
    mig.approve(gd, actor=CLERK_GD, number=rival_gd)
    # The graduate changes her mind once the permit is out: a compensation.
    mig.withdraw(bj, actor=CLERK_BJ, number=numbers[GRAD])

    cases = [(bj, n) for n in numbers.values()] + [(bj, rival_bj), (gd, rival_gd)]

    def settle_what_arrived() -> bool:
        for node, number in cases:
            if mig_state(node, number) == "certificate_received":
                mig.move_in(node, actor=CLERK_BJ if node is bj else CLERK_GD, number=number)
        return all(mig_state(node, number) in TERMINAL for node, number in cases)

    assert wait_until(settle_what_arrived, 90)
    assert transport.counts["duplicated"] > 0 and transport.counts["dropped"] > 0
    assert mig_state(bj, numbers[GRAD]) == "withdrawn"
    for who in (WIFE, SON, ELDER):
        assert mig_state(bj, numbers[who]) == "settled", who
    assert sorted([mig_state(bj, rival_bj), mig_state(gd, rival_gd)]) == ["refused", "settled"]
    assert_nation_consistent(nation, [WIFE, SON, GRAD, ELDER, LONER], timeout=90)
    assert status_at(sh, GRAD) == "active"
    with sh.db.session() as s:
        certificates = s.scalar(
            select(func.count()).select_from(PaperRow).where(PaperRow.type == "mig.certificate")
        )
        # One per moved-out person (the withdrawn graduate may have been moved out before the abandon came).
        assert certificates in (4, 5)
    assert sh.code == SH
