"""A bounded chaos run (fixed seed, about 50 s of operations, under 3 minutes in all): three province node
processes and the national locator's, on PostgreSQL, over a three-server JetStream cluster with R3 streams, the
fault wrapper dropping, duplicating, delaying and reordering in every process, and the seed's schedule pausing
the locator past its timeouts, killing a broker, killing the locator and killing a province. The default mix of operations: certificate requests
(routed by the locator) and migrations (moves, withdrawals, abandons, two destinations competing for one
person). Every operation ends exactly once as asked: nothing lost, duplicated or unexpected; the invariant
checker finds nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.conftest import PG_ADMIN_URL, missing_service

from tongban.chaos.run import run_chaos
from tongban.chaos.settings import ChaosSettings

SEED = 2026
DURATION = 50.0


@pytest.mark.slow
@pytest.mark.nats
def test_bounded_chaos_run_loses_and_duplicates_nothing(tmp_path: Path, pg_factory: Any) -> None:
    if pg_factory is None:
        missing_service("PostgreSQL")
    settings = ChaosSettings(pg_admin_url=PG_ADMIN_URL, db_prefix=f"tongban_chaos_t{os.getpid()}")
    if shutil.which(settings.nats_server) is None:
        missing_service("nats-server")
    lines: list[str] = []
    result = run_chaos(
        seed=SEED, duration=DURATION, nodes=3, settings=settings, root=tmp_path, say=lines.append
    )
    report = "\n".join(lines) + f"\n{result.to_json()}"

    assert result.quiesced, report
    assert result.findings == [] and result.unexpected_effects == [], report
    for bad in ("lost", "duplicated", "unexpected"):
        assert result.outcomes.get(bad, 0) == 0, report
    # Operations ran and finished; some of them through a fault.
    assert result.operations >= 60, report
    assert result.outcomes.get("ok", 0) + result.outcomes.get("recovered", 0) == result.operations, report
    assert result.outcomes.get("recovered", 0) > 0, report
    # Both workloads ran, every kind of migration among them.
    assert {"cert.kinship", "mig.move", "mig.withdraw", "mig.abandon", "mig.compete"} <= set(result.kinds), (
        report
    )
    # The faults happened: the locator stopped and continued, a broker killed and restarted, the locator and a
    # province killed and restarted, and the fault wrapper was active in every node process.
    done = {(e["what"], "locator" if e["target"] == "000000" else "other") for e in result.fault_events}
    for what in ("SIGSTOP node", "SIGCONT node", "SIGKILL node", "restarted node"):
        assert (what, "locator") in done, report
    for what in ("SIGKILL node", "restarted node", "SIGKILL broker", "restarted broker"):
        assert (what, "other") in done, report
    assert result.faults_carried_out.get("node-kill locator", 0) >= 1, report
    assert result.fault_errors == [], report
    assert result.stream["replicas"] == 3 and len(result.stream["followers"]) == 2, report
    for code in [*result.nodes, "000000"]:
        assert "injected faults" in (tmp_path / f"node-{code}.log").read_text(), report
    # Every outbox receipted and every inbox applied after the quiesce.
    for code, states in result.exchange.items():
        assert set(states) <= {"outbox acknowledged", "inbox applied"}, (code, states)
    # The invariant checker ran over the four databases and found nothing.
    assert result.check["status"] == "clean", result.check
    assert not result.failed
    # And the run's databases are gone.
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (settings.db_prefix + "%",)
        )
        assert left.fetchone() == (0,)
