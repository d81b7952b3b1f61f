"""``tongban id check`` and ``tongban id upgrade``: output and exit codes."""

from __future__ import annotations

from typer.testing import CliRunner

from tongban.cli import app

runner = CliRunner()


def test_check_reports_area_birth_date_and_sex() -> None:
    result = runner.invoke(app, ["id", "check", "11010519491231002X", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "110105" in result.output and "朝阳区" in result.output
    assert "1949-12-31" in result.output
    assert "female" in result.output
    assert "002" in result.output


def test_check_in_chinese_by_default_locale() -> None:
    result = runner.invoke(app, ["id", "check", "11010519491231002x"], env={"LANG": "zh_CN.UTF-8"})
    assert result.exit_code == 0, result.output
    assert "女" in result.output and "1949-12-31" in result.output


def test_wrong_check_character_exits_1_naming_the_expected_one() -> None:
    result = runner.invoke(app, ["id", "check", "110105194912310021", "--lang", "en"])
    assert result.exit_code == 1
    assert "should be X" in result.output


def test_other_errors_exit_1_with_the_reason() -> None:
    short = runner.invoke(app, ["id", "check", "1101051949", "--lang", "en"])
    assert short.exit_code == 1 and "18 characters" in short.output
    area = runner.invoke(app, ["id", "check", "999999199001010015", "--lang", "en"])
    assert area.exit_code == 1 and "999999" in area.output


def test_check_accepts_a_15_digit_number() -> None:
    result = runner.invoke(app, ["id", "check", "110105491231002", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "11010519491231002X" in result.output and "converted" in result.output


def test_check_names_an_abolished_area() -> None:
    result = runner.invoke(app, ["id", "check", "110103198001010013", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "110103 崇文区" in result.output and "not in use since 2010" in result.output


def test_upgrade() -> None:
    ok = runner.invoke(app, ["id", "upgrade", "110105491231002"])
    assert ok.exit_code == 0 and ok.output.strip() == "11010519491231002X"
    bad = runner.invoke(app, ["id", "upgrade", "110105490231002", "--lang", "en"])
    assert bad.exit_code == 1 and "not a real calendar date" in bad.output
