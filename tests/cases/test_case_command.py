"""`tongban case` accepts, shows, lists, moves on and sweeps the cases of one node."""

from __future__ import annotations

from typer.testing import CliRunner

from tongban.cli import app

runner = CliRunner()


def test_case_commands_end_to_end(db_url: str) -> None:
    base = ["--node", "310000", "--db", db_url]
    matters = runner.invoke(app, ["case", "matters", "--lang", "en"])
    assert matters.exit_code == 0
    assert (
        "MIG-SPOUSE\tjoint_handling\tHousehold-registration migration: spouse joining spouse"
        in matters.stdout
    )

    accepted = runner.invoke(
        app, ["case", "accept", *base, "--matter", "CERT", "--applicant", "person:s-1", "--office", "o-1"]
    )
    assert accepted.exit_code == 0, accepted.output
    number, due = accepted.stdout.strip().split("\t")
    assert number.startswith("310000-")

    listed = runner.invoke(app, ["case", "list", *base])
    assert listed.stdout.startswith(f"{number}\tCERT\taccepted\t{due}")

    refused = runner.invoke(app, ["case", "act", number, "complete", *base, "--lang", "en"])
    assert refused.exit_code == 1
    assert "accepted: complete is not allowed" in refused.stderr

    for action in (["start"], ["request_materials", "--missing", "request"]):
        moved = runner.invoke(app, ["case", "act", number, *action, *base, "--actor", "user:clerk-1"])
        assert moved.exit_code == 0, moved.output

    shown = runner.invoke(app, ["case", "show", number, *base, "--lang", "zh-CN"])
    assert shown.exit_code == 0, shown.output
    assert "状态: awaiting_materials" in shown.stdout
    assert "补正材料截止日期" in shown.stdout
    assert "user:clerk-1 request_materials -> awaiting_materials" in shown.stdout

    swept = runner.invoke(app, ["case", "sweep", *base])
    assert swept.exit_code == 0
    assert "cases overdue: 0" in swept.stdout

    missing = runner.invoke(app, ["case", "show", "310000-20000101-000001", *base, "--lang", "en"])
    assert missing.exit_code == 1
    assert "No case 310000-20000101-000001" in missing.stderr
