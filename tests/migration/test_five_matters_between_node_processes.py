"""Each of the five migration matters, and a same-city move, between node processes: Beijing (destination),
Shanghai (origin) and the national locator as ``tongban serve --node`` processes, each on its own PostgreSQL
database, over JetStream (``proc_support``). Each migration runs to its settlement (the permit to Shanghai, the
clerk's move-out, the certificate back, the move-in, the settlement to Shanghai, the locator at Beijing) and
is followed by a clean ``tongban check`` (the command, over the three databases, the processes running)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.migration.mig_support import BJ, CLERK_BJ, ELDER, GRAD, LONER, SH, SON, WIFE, applicant
from tests.migration.proc_support import (
    CITY,
    ProcNation,
    accept,
    final_state,
    locator_entry,
    proc_nation,
    run_check,
    run_saga,
    wait_for,
)

from tongban.migration import samecity
from tongban.migration import service as mig
from tongban.registry.queries import get_person

pytestmark = [pytest.mark.slow, pytest.mark.nats]


@pytest.fixture(scope="module")
def nation(tmp_path_factory: pytest.TempPathFactory, pg_factory: Any) -> Iterator[ProcNation]:
    yield from proc_nation(tmp_path_factory.mktemp("mig-procs"), pg_factory)


@pytest.mark.parametrize(
    ("matter", "who"),
    [("MIG-JOB", LONER), ("MIG-STU", SON), ("MIG-GRAD", GRAD), ("MIG-SPOUSE", WIFE), ("MIG-PARENT", ELDER)],
)
def test_a_matter_runs_between_node_processes_and_checks_clean(
    nation: ProcNation, matter: str, who: str
) -> None:
    number = accept(nation, who, matter)
    view = mig.get_migration(nation.bj, number=number)
    assert (view.origin, view.state, view.eligible) == (SH, "accepted", True)
    run_saga(nation, number, who)
    state = final_state(nation, number, who)
    assert state["locator"] == (BJ, "registered", None)
    assert state[BJ]["status"] == ["active"] and state[BJ]["journal"] == ["moved_in"]
    assert state[SH]["status"] == ["moved_out"] and state[SH]["journal"] == ["in_transit", "moved_out"]
    assert state[BJ]["papers"] == ["mig.permit"] and state[SH]["papers"] == ["mig.certificate"]
    assert (state[BJ]["migration"], state[SH]["task"]) == ("settled", "settled")
    run_check(nation)


def test_a_same_city_move_in_a_node_process_checks_clean(nation: ProcNation) -> None:
    view = samecity.move_in_city(
        nation.bj,
        actor=CLERK_BJ,
        applicant=applicant(CITY),
        matter="MIG-JOB",
        facts={},
        household_number="D3",
        relation="head",
    )
    assert view.state == "settled" and view.routed_by == "same-city"
    assert final_state_city(nation) == ("active", "D3")
    # The move stays at Beijing; the locator still finds the person there.
    assert wait_for(lambda: locator_entry(nation, CITY) == (BJ, "registered", None))
    run_check(nation)


def final_state_city(nation: ProcNation) -> tuple[str, str | None]:
    person = get_person(nation.bj, actor="test", id_number=CITY)
    return person.status, person.household_number
