"""Property: whatever the interleaving of concurrent migrations (two destinations competing for one person,
approvals, the origin clerk's move-outs and refusals, withdrawals, abandons and move-ins in any order, with the
exchange delivering meanwhile), every migration ends, a person is never registered twice nor lost, and of two
destinations competing with no exit taken, exactly one wins."""

from __future__ import annotations

import itertools
import time
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.conftest import IN_CI
from tests.exchange.exchange_support import wait_until
from tests.migration.mig_support import (
    BJ,
    CLERK_BJ,
    CLERK_GD,
    GD,
    ORIGIN_CLERK,
    REGISTRAR,
    MigNation,
    accept,
    assert_nation_consistent,
    drained,
    mig_state,
    status_at,
    stuck,
    task_state,
)

from tongban.core.errors import Conflict
from tongban.idnum.domain import make_id_number
from tongban.migration import origin
from tongban.migration import service as mig
from tongban.registry import service as registry

TERMINAL = {"settled", "refused", "withdrawn", "abandoned"}
EXITS = {"withdraw", "abandon", "refuse_out"}
_serial = itertools.count(1)


def _new_person(nation: MigNation) -> tuple[str, str]:
    """A person registered alone in Shanghai, and an empty household of the same number at each destination."""
    k = next(_serial)
    for node, division in ((nation.bj, "110105"), (nation.gd, "440103")):
        registry.create_household(
            node,
            actor=REGISTRAR,
            number=f"N{k}",
            kind="family",
            address=f"测试地址N{k}号",
            division_code=division,
            on_date=date(2020, 1, 1),
        )
    born = date(1990, 1, 1) + timedelta(days=k)
    id_number = make_id_number("310104", born, 2 * k + 1)
    registry.create_household(
        nation.sh,
        actor=REGISTRAR,
        number=f"R{k}",
        kind="family",
        address=f"测试地址R{k}号",
        division_code="310104",
        on_date=date(2020, 1, 1),
    )
    registry.register_person(
        nation.sh,
        actor=REGISTRAR,
        household_number=f"R{k}",
        relation="head",
        event="moved_in",
        name="测试",
        sex="male",
        birth_date=born,
        ethnicity="01",
        birthplace="310104",
        id_number=id_number,
        on_date=date(2020, 1, 1),
    )
    return id_number, f"N{k}"


OPS = st.sampled_from(["approve", "move_out", "refuse_out", "move_in", "withdraw", "abandon", "wait"])


@st.composite
def programs(draw: Any) -> tuple[list[bool], list[tuple[int, str, str]]]:
    """For 1-3 persons: whether two destinations compete for them; then a sequence of (person, side, op)."""
    competing = draw(st.lists(st.booleans(), min_size=1, max_size=3))
    steps = draw(
        st.lists(
            st.tuples(st.integers(0, len(competing) - 1), st.sampled_from([BJ, GD]), OPS),
            min_size=4,
            max_size=18,
        )
    )
    return competing, steps


def _try(fn: Any, **kw: Any) -> bool:
    try:
        fn(**kw)
        return True
    except Conflict:
        return False


def _actor(code: str) -> Any:
    return CLERK_BJ if code == BJ else CLERK_GD


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # the fixture's repr on failure
@settings(
    max_examples=4 if IN_CI else 12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(program=programs())
def test_random_interleavings_keep_the_nation_consistent(
    nation: MigNation, program: tuple[list[bool], list[tuple[int, str, str]]]
) -> None:
    competing, steps = program
    made = [_new_person(nation) for _ in competing]
    people = [who for who, _ in made]
    # Acceptance routes by the locator: it must have heard of the new registrations first.
    assert wait_until(lambda: drained(nation), 60)
    cases: dict[tuple[int, str], str] = {}
    for i, (who, both) in enumerate(zip(people, competing, strict=True)):
        cases[(i, BJ)] = accept(nation, nation.bj, who, household=made[i][1])
        if both:
            cases[(i, GD)] = accept(nation, nation.gd, who, household=made[i][1])
    exits: set[int] = set()
    for i, side, op in steps:
        number = cases.get((i, side))
        if number is None:
            continue
        node = nation.bj if side == BJ else nation.gd
        done = False
        if op == "approve":
            done = _try(mig.approve, node=node, actor=_actor(side), number=number)
        elif op == "move_out" and task_state(nation.sh, number) == "received":
            done = _try(origin.move_out, node=nation.sh, actor=ORIGIN_CLERK, case_number=number)
        elif op == "refuse_out" and task_state(nation.sh, number) == "received":
            done = _try(
                origin.refuse_move_out, node=nation.sh, actor=ORIGIN_CLERK, case_number=number, note="x"
            )
        elif op == "move_in":
            done = _try(mig.move_in, node=node, actor=_actor(side), number=number)
        elif op == "withdraw":
            done = _try(mig.withdraw, node=node, actor=_actor(side), number=number)
        elif op == "abandon":
            done = _try(mig.abandon, node=node, actor=_actor(side), number=number)
        elif op == "wait":
            time.sleep(0.1)
        if done and op in EXITS:
            exits.add(i)

    # Drive everything to its end: approve what waits, the origin moves out, the destinations move in.
    def drive() -> bool:
        finished = True
        for (_, side), number in cases.items():
            node = nation.bj if side == BJ else nation.gd
            state = mig_state(node, number)
            if state == "accepted":
                _try(mig.approve, node=node, actor=_actor(side), number=number)
            elif state == "certificate_received":
                _try(mig.move_in, node=node, actor=_actor(side), number=number)
            if task_state(nation.sh, number) == "received":
                _try(origin.move_out, node=nation.sh, actor=ORIGIN_CLERK, case_number=number)
            finished &= mig_state(node, number) in TERMINAL
            finished &= task_state(nation.sh, number) not in ("received", "moved_out")
        return finished

    assert wait_until(drive, 60, interval=0.1), (
        stuck(nation),
        {
            n: (mig_state(nation.bj, n), mig_state(nation.gd, n), task_state(nation.sh, n))
            for n in cases.values()
        },
        steps,
    )
    assert_nation_consistent(nation, people)
    for i, who in enumerate(people):
        mine = {
            side: mig_state(nation.bj if side == BJ else nation.gd, n)
            for (j, side), n in cases.items()
            if j == i
        }
        winners = [side for side, state in mine.items() if state == "settled"]
        assert len(winners) <= 1, mine
        if i not in exits:
            assert len(winners) == 1, (mine, steps)
        if winners:
            assert status_at(nation.bj if winners[0] == BJ else nation.gd, who) == "active"
        else:
            assert status_at(nation.sh, who) == "active"
