"""Levels, parents, provinces and counts of the shipped division data."""

from __future__ import annotations

import time

from tongban.divisions.domain import Level, get_catalog, level_of_code


def test_counts_in_use_match_the_published_figures() -> None:
    catalog = get_catalog()
    assert catalog.data_year == 2024
    provinces = catalog.provinces()
    assert len(provinces) == 34
    assert {"110000", "710000", "810000", "820000"} <= {p.code for p in provinces}
    prefectures = [d for p in provinces for d in catalog.children(p.code) if d.level is Level.PREFECTURE]
    assert len(prefectures) == 333
    assert sum(len(catalog.counties_of(p.code)) for p in provinces) == 2846
    assert sum(len(catalog.counties_of(p.code, 2023)) for p in catalog.provinces(2023)) == 2844


def test_county_parent_and_province() -> None:
    catalog = get_catalog()
    chaoyang = catalog.get("110105")
    assert chaoyang is not None
    assert (chaoyang.name, chaoyang.level) == ("朝阳区", Level.COUNTY)
    assert chaoyang.parent_code == "110000"  # directly under the municipality
    assert chaoyang.province_code == "110000"
    changzhi_county = catalog.get("140404")  # 上党区 (formerly 长治县), under 长治市
    assert changzhi_county is not None
    assert changzhi_county.parent_code == "140400"
    parent = catalog.parent("140404")
    assert parent is not None and parent.name == "长治市" and parent.level is Level.PREFECTURE
    assert catalog.get("140000").level is Level.PROVINCE  # type: ignore[union-attr]
    assert catalog.get("140000").parent_code is None  # type: ignore[union-attr]


def test_children_by_year() -> None:
    catalog = get_catalog()
    beijing_2024 = {d.code for d in catalog.children("110000")}
    beijing_2009 = {d.code for d in catalog.children("110000", 2009)}
    assert "110103" in beijing_2009 and "110103" not in beijing_2024
    assert "110101" in beijing_2024
    assert all(d.parent_code == "110000" for d in catalog.children("110000"))


def test_levels_agree_with_the_shape_of_codes_for_provinces() -> None:
    catalog = get_catalog()
    for p in catalog.provinces():
        assert level_of_code(p.code) is Level.PROVINCE
    for code in catalog.codes():
        for d in catalog.history(code):
            assert d.province_code == code[:2] + "0000"
            if d.parent_code is not None:
                assert catalog.ever_existed(d.parent_code), d


def test_search_by_hanzi_and_pinyin() -> None:
    catalog = get_catalog()
    assert "140400" in {d.code for d in catalog.search("长治")}
    assert "140400" in {d.code for d in catalog.search("changzhi")}
    assert catalog.search("  ") == []


def test_catalog_is_loaded_once_and_quickly() -> None:
    first = get_catalog()
    started = time.perf_counter()
    again = get_catalog()
    assert again is first
    assert time.perf_counter() - started < 0.01


def test_every_row_has_its_named_parent_and_province_in_use_during_its_period() -> None:
    catalog = get_catalog()
    for code in catalog.codes():
        for d in catalog.history(code):
            last = d.last_year if d.last_year is not None else catalog.data_year
            span = range(d.start_year, last + 1)
            assert any(catalog.in_use(d.province_code, y) for y in span), d
            if d.parent_code is not None:
                assert any(
                    (p := catalog.get(d.parent_code, y)) is not None and p.name == d.parent_name for y in span
                ), d
