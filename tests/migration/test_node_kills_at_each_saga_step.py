"""SIGKILL of either province's node process right after each step of the migration saga (and of the locator's
after the two steps that update it), then a restart: the saga converges to the same final state as a migration
nobody killed, and ``tongban check`` is clean.

Beijing (destination), Shanghai (origin) and the national locator run as ``tongban serve --node`` processes on
PostgreSQL over JetStream (``proc_support``), shared by the module's tests; each test migrates a person of its
own (alone in a household of Shanghai, into an empty household of Beijing). The steps, each a commit of its
own:

=======================  =====================================================================================
``permit-sent``          Beijing accepted and approved: the permit issued, ``mig.permit.v1`` in Beijing's outbox
``permit-received``      Shanghai's process applied the permit: the clerk's task ``received``
``moved-out``            Shanghai's clerk moved the person out (in transit), the certificate issued and in the outbox
``certificate-received`` Beijing's process verified and attached the certificate
``moved-in``             Beijing registered the move-in, closed the case, ``mig.settled.v1`` in the outbox
``settled-received``     Shanghai's process confirmed the move-out: the task ``settled``
``locator-updated``      the locator's process placed the person at Beijing
=======================  =====================================================================================

A step the test commits (through the service's entry points, as the clerks' pages do) is followed at once by
the kill; a step a process commits is watched for in that process's database (polled every 10 ms) and the kill
follows its appearance. The killed process group is started again at once; the test goes on with the saga
while it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.migration.mig_support import BJ, SH
from tests.migration.proc_support import (
    ProcNation,
    accept,
    approve,
    final_state,
    locator_entry,
    mig_state,
    move_in,
    move_out,
    movers,
    proc_nation,
    run_check,
    run_saga,
    settled_everywhere,
    task_state,
    wait_for,
)

from tongban.exchange.locator import LOCATOR_CODE

pytestmark = [pytest.mark.slow, pytest.mark.nats]

STEPS = [
    "permit-sent",
    "permit-received",
    "moved-out",
    "certificate-received",
    "moved-in",
    "settled-received",
    "locator-updated",
]
SIDES = {"destination": BJ, "origin": SH, "locator": LOCATOR_CODE}
# Either province's process after every step; the locator's while an update of the person is on its way to it
# (after the move-in) and right after it applied the last one.
KILLS = [(step, side) for step in STEPS for side in ("destination", "origin")] + [
    ("moved-in", "locator"),
    ("locator-updated", "locator"),
]


@dataclass
class Baseline:
    nation: ProcNation
    people: list[str]
    state: dict[str, Any]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, pg_factory: Any) -> Iterator[Baseline]:
    """The nation's processes, and a migration nobody killed: the final state every killed one must reach."""
    processes = proc_nation(tmp_path_factory.mktemp("mig-kills"), pg_factory, extra_movers=1 + len(KILLS))
    nation = next(processes)
    try:
        people = movers(1 + len(KILLS))
        number = accept(nation, people[0], household="K0")
        run_saga(nation, number, people[0])
        run_check(nation)
        yield Baseline(nation, people, final_state(nation, number, people[0]))
    finally:
        processes.close()


def _saga_with_a_kill(nation: ProcNation, number: str, who: str, kill_after: str, code: str) -> None:
    """The saga, the process ``code`` SIGKILLed right after ``kill_after`` and started again."""
    killed: list[str] = []

    def step(
        name: str, done: Callable[[], Any] | None = None, when: Callable[[], bool] | None = None
    ) -> None:
        if done is not None:
            done()
        if when is not None:
            interval = 0.01 if name == kill_after else 0.05
            assert wait_for(when, interval=interval), (name, nation.logs())
        if name == kill_after:
            nation.kill(code)
            killed.append(name)
            nation.restart(code)

    step("permit-sent", done=lambda: approve(nation, number))
    step("permit-received", when=lambda: task_state(nation, number) == "received")
    step("moved-out", done=lambda: move_out(nation, number))
    step("certificate-received", when=lambda: mig_state(nation, number) == "certificate_received")
    step("moved-in", done=lambda: move_in(nation, number))
    step("settled-received", when=lambda: task_state(nation, number) == "settled")
    step("locator-updated", when=lambda: locator_entry(nation, who) == (BJ, "registered", None))
    assert killed == [kill_after]


@pytest.mark.parametrize(("step", "side"), KILLS, ids=[f"{s}-kill-{side}" for s, side in KILLS])
def test_a_kill_after_a_step_converges_to_the_same_final_state(
    baseline: Baseline, step: str, side: str
) -> None:
    nation = baseline.nation
    who = baseline.people[1 + KILLS.index((step, side))]
    household = f"K{1 + KILLS.index((step, side))}"
    number = accept(nation, who, household=household)
    code = SIDES[side]
    before = nation.procs[code].starts
    _saga_with_a_kill(nation, number, who, step, code)
    nation.ensure_running()
    assert nation.procs[code].starts == before + 1  # killed and started again once
    assert wait_for(lambda: settled_everywhere(nation, number, who)), nation.logs()
    run_check(nation)
    assert final_state(nation, number, who) == baseline.state
