"""``tongban division show`` and ``list``: output and exit codes."""

from __future__ import annotations

from typer.testing import CliRunner

from tongban.cli import app

runner = CliRunner()


def test_show_prints_name_level_parent_and_status() -> None:
    result = runner.invoke(app, ["division", "show", "110105", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "朝阳区" in result.output and "Chaoyang Qu" in result.output
    assert "county level" in result.output
    assert "110000 北京市" in result.output
    assert "in use since 1981" in result.output


def test_show_abolished_code_says_since_when_and_successor() -> None:
    result = runner.invoke(app, ["division", "show", "110103", "--lang", "en"])
    assert result.exit_code == 0, result.output
    assert "not in use since 2010" in result.output
    assert "110101 东城区" in result.output


def test_show_by_year_on_a_renamed_code() -> None:
    before = runner.invoke(app, ["division", "show", "120110", "--year", "1990", "--lang", "en"])
    after = runner.invoke(app, ["division", "show", "120110", "--year", "2000", "--lang", "en"])
    assert before.exit_code == after.exit_code == 0
    assert "东郊区 (Dongjiao Qu)" in before.output
    assert "东丽区 (Dongli Qu)" in after.output


def test_show_in_chinese() -> None:
    result = runner.invoke(app, ["division", "show", "110103", "--lang", "zh_CN"])
    assert result.exit_code == 0
    assert "自 2010 年起停用" in result.output and "县级" in result.output


def test_unknown_code_exits_1_with_a_message() -> None:
    result = runner.invoke(app, ["division", "show", "999999", "--lang", "en"])
    assert result.exit_code == 1
    assert "Unknown division code 999999" in result.output


def test_code_not_in_use_that_year_exits_1() -> None:
    result = runner.invoke(app, ["division", "show", "132201", "--year", "1984", "--lang", "en"])
    assert result.exit_code == 1
    assert "not in use in 1984" in result.output


def test_list_provinces_and_counties() -> None:
    provinces = runner.invoke(app, ["division", "list", "--lang", "en"])
    assert provinces.exit_code == 0
    assert "34 divisions" in provinces.output
    beijing = runner.invoke(app, ["division", "list", "--province", "110000", "--lang", "en"])
    assert beijing.exit_code == 0
    assert "16 divisions" in beijing.output
    bad = runner.invoke(app, ["division", "list", "--province", "110105", "--lang", "en"])
    assert bad.exit_code == 1


def test_find_by_hanzi_or_pinyin() -> None:
    by_hanzi = runner.invoke(app, ["division", "find", "长治", "--lang", "en"])
    by_pinyin = runner.invoke(app, ["division", "find", "Changzhi", "--lang", "en"])
    assert by_hanzi.exit_code == by_pinyin.exit_code == 0
    assert "140400" in by_hanzi.output and "140400" in by_pinyin.output
    none = runner.invoke(app, ["division", "find", "不存在的地方", "--lang", "en"])
    assert none.exit_code == 1 and "No division matches" in none.output
