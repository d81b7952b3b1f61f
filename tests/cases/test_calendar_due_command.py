"""`tongban calendar due` prints due dates and warns (without failing) for a year without data."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tongban.cli import app

runner = CliRunner()


def test_due_over_national_day_2025() -> None:
    result = runner.invoke(app, ["calendar", "due", "--from", "2025-09-26", "--working-days", "5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2025-10-10"
    assert result.stderr == ""


def test_due_in_calendar_days() -> None:
    result = runner.invoke(app, ["calendar", "due", "--from", "2025-09-30", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2025-10-30"


def test_due_with_a_pause() -> None:
    result = runner.invoke(
        app,
        [
            "calendar",
            "due",
            "--from",
            "2025-06-09",
            "--working-days",
            "3",
            "--pause",
            "2025-06-10..2025-06-16",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2025-06-18"


def test_year_without_data_warns_in_the_chosen_language() -> None:
    args = ["calendar", "due", "--from", "2099-01-01", "--working-days", "5"]
    zh = runner.invoke(app, [*args, "--lang", "zh-CN"])
    assert zh.exit_code == 0
    assert zh.stdout.strip() == "2099-01-08"
    assert "2099年没有节假日数据" in zh.stderr
    en = runner.invoke(app, [*args, "--lang", "en"])
    assert "no holiday data for 2099" in en.stderr


def test_operator_schedule_silences_the_warning(tmp_path: Path) -> None:
    (tmp_path / "2099.toml").write_text('year = 2099\nholidays = ["2099-01-02"]\n', encoding="utf-8")
    result = runner.invoke(
        app,
        ["calendar", "due", "--from", "2099-01-01", "--working-days", "1", "--calendar-dir", str(tmp_path)],
    )
    assert result.exit_code == 0
    assert result.stdout.strip() == "2099-01-05"
    assert result.stderr == ""


def test_broken_schedule_exits_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "2099.toml").write_text("year = 2099\nworkdays = ['2099-01-05']\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["calendar", "due", "--from", "2099-01-01", "--working-days", "1", "--calendar-dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "Saturdays or Sundays" in result.stderr


def test_exactly_one_unit_is_required() -> None:
    result = runner.invoke(app, ["calendar", "due", "--from", "2025-06-09"])
    assert result.exit_code != 0


def test_malformed_dates_and_pauses_are_refused() -> None:
    bad_date = runner.invoke(app, ["calendar", "due", "--from", "2025-02-30", "--working-days", "1"])
    assert bad_date.exit_code == 2
    assert "not a date" in bad_date.output
    bad_pause = runner.invoke(
        app, ["calendar", "due", "--from", "2025-06-09", "--working-days", "1", "--pause", "2025-06-10"]
    )
    assert bad_pause.exit_code == 2
    backwards = runner.invoke(
        app,
        [
            "calendar",
            "due",
            "--from",
            "2025-06-09",
            "--working-days",
            "1",
            "--pause",
            "2025-06-12..2025-06-10",
        ],
    )
    assert backwards.exit_code == 2
    assert "cannot end before it starts" in backwards.output
