"""Division codes are looked up by year: renamed codes and reused codes give the row in use that year."""

from __future__ import annotations

import itertools

from tongban.divisions.domain import Level, Status, get_catalog


def test_renamed_code_gives_the_name_in_use_each_year() -> None:
    catalog = get_catalog()
    # 120110 was 东郊区 to 1991 and has been 东丽区 since 1992 (same code, renamed).
    assert catalog.get("120110", 1991).name == "东郊区"  # type: ignore[union-attr]
    assert catalog.get("120110", 1992).name == "东丽区"  # type: ignore[union-attr]
    assert catalog.get("120110").name == "东丽区"  # type: ignore[union-attr]
    old = catalog.get("120110", 1981)
    assert old is not None and old.status is Status.CHANGED and old.end_year == 1992
    assert [d.name for d in catalog.successors("120110", 1985)] == ["东丽区"]


def test_reused_code_is_another_place_in_another_period_and_nothing_in_the_gap() -> None:
    catalog = get_catalog()
    # 132201 was 邢台市 (a county-level city) in 1981-1982, unused 1983-1985, then 南宫市 in 1986-1992.
    assert catalog.get("132201", 1982).name == "邢台市"  # type: ignore[union-attr]
    assert catalog.get("132201", 1984) is None
    assert catalog.get("132201", 1990).name == "南宫市"  # type: ignore[union-attr]
    assert catalog.get("132201", 1993) is None
    assert [d.name for d in catalog.history("132201")] == ["邢台市", "南宫市"]
    assert catalog.ever_existed("132201")
    assert not catalog.in_use("132201")
    assert catalog.in_use("132201", 1986)
    assert [d.code for d in catalog.successors("132201", 1990)] == ["130581"]


def test_year_boundaries_follow_year_end_lists() -> None:
    catalog = get_catalog()
    # 110103 崇文区 is in the year-end lists to 2009 and merged into 东城区 (110101) in 2010.
    chongwen = catalog.get("110103", 2009)
    assert chongwen is not None and chongwen.name == "崇文区"
    assert chongwen.in_use(2009) and not chongwen.in_use(2010)
    assert catalog.get("110103", 2010) is None
    assert chongwen.last_year == 2009 and chongwen.status is Status.ABOLISHED
    assert [d.code for d in catalog.successors("110103")] == ["110101"]
    assert [d.code for d in catalog.current_successors("110103")] == ["110101"]
    assert catalog.get("110103", 1980) is None  # the data starts with the 1981 list


def test_chains_of_successors_end_at_codes_in_use() -> None:
    catalog = get_catalog()
    # 保定市 as a county-level city (132401, 1981-1982) became four districts; they were later reorganised.
    current = catalog.current_successors("132401", 1981)
    assert current, "a chain of successors reaches codes in use"
    for d in current:
        assert d.end_year is None and d.code.startswith("1306")


def test_unknown_codes() -> None:
    catalog = get_catalog()
    assert catalog.get("999999") is None
    assert catalog.get("999999", 2000) is None
    assert not catalog.ever_existed("999999")
    assert catalog.history("999999") == []
    assert catalog.successors("999999", 2000) == []


def test_partial_transfers_are_kept_apart_from_successors() -> None:
    catalog = get_catalog()
    # 红桥区 (120106) is in use; part of its area went to 北辰区 (120113) in 2020.
    hongqiao = catalog.get("120106")
    assert hongqiao is not None and hongqiao.current
    assert hongqiao.successors == ()
    assert ("120113", 2020) in hongqiao.transfers
    assert catalog.successors("120106") == []
    assert hongqiao.level is Level.COUNTY


def test_every_code_has_periods_that_do_not_overlap() -> None:
    catalog = get_catalog()
    for code in catalog.codes():
        rows = catalog.history(code)
        for earlier, later in itertools.pairwise(rows):
            assert earlier.end_year is not None and earlier.end_year <= later.start_year, code
        for year in range(1981, catalog.data_year + 1):
            assert sum(d.in_use(year) for d in rows) <= 1, (code, year)
