"""``tongban migration``: the origin's queue of move-out tasks with their due dates, the destination's
migrations with their states, and the certificates nearing their end, read from the node databases."""

from __future__ import annotations

import json

from tests.migration.mig_support import (
    CLERK_BJ,
    LONER,
    ORIGIN_CLERK,
    SH,
    MigNation,
    accept,
    wait_state,
    wait_task,
)
from typer.testing import CliRunner

from tongban.cli import app
from tongban.migration import origin
from tongban.migration import service as mig

runner = CliRunner()


def test_the_queue_the_cases_and_the_expiring_certificates(nation: MigNation) -> None:
    bj, sh = nation.bj, nation.sh
    number = accept(nation, bj, LONER)
    mig.approve(bj, actor=CLERK_BJ, number=number)
    assert wait_task(sh, number, "received")
    out = runner.invoke(app, ["migration", "tasks", "--node", SH, "--db", sh.db.url])
    assert out.exit_code == 0, out.output
    [task] = [json.loads(line) for line in out.output.splitlines()]
    assert (task["case_number"], task["state"]) == (number, "received") and task["due"]
    origin.move_out(sh, actor=ORIGIN_CLERK, case_number=number)
    assert wait_state(bj, number, "certificate_received")
    out = runner.invoke(app, ["migration", "list", "--node", bj.code, "--db", bj.db.url, "--lang", "en"])
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["state"] for line in out.output.splitlines()] == ["certificate_received"]
    soon = runner.invoke(app, ["migration", "expiring", "--node", bj.code, "--db", bj.db.url])
    later = runner.invoke(
        app, ["migration", "expiring", "--node", bj.code, "--db", bj.db.url, "--within-days", "30"]
    )
    assert (soon.output.split(), later.output.split()) == ([], [number])
    assert runner.invoke(app, ["migration", "tasks", "--node", SH, "--db", sh.db.url]).output == ""
