"""Properties of lookups over the whole shipped catalog."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tongban.divisions.domain import Level, get_catalog

CATALOG = get_catalog()
codes = st.sampled_from(CATALOG.codes())
years = st.integers(min_value=1975, max_value=CATALOG.data_year + 2)


@given(codes, years)
def test_lookup_by_year_gives_the_row_in_use_that_year(code: str, year: int) -> None:
    found = CATALOG.get(code, year)
    in_use = [d for d in CATALOG.history(code) if d.in_use(year)]
    if found is None:
        assert in_use == []
        assert not CATALOG.in_use(code, year)
    else:
        assert in_use == [found]
        assert CATALOG.in_use(code, year)
        assert found.code == code


@given(codes)
def test_latest_row_is_the_last_period(code: str) -> None:
    latest = CATALOG.get(code)
    history = CATALOG.history(code)
    assert latest is not None and latest == history[-1]
    assert all(d.start_year <= latest.start_year for d in history)
    assert CATALOG.ever_existed(code)


@given(codes, years)
def test_children_are_under_their_parent_that_year(code: str, year: int) -> None:
    for child in CATALOG.children(code, year):
        assert child.parent_code == code and child.in_use(year)
        assert child.province_code == code[:2] + "0000"
        if child.level is Level.PREFECTURE:
            assert code.endswith("0000")


@given(codes, years)
def test_successors_are_rows_that_existed(code: str, year: int) -> None:
    for successor in CATALOG.successors(code, year):
        assert CATALOG.ever_existed(successor.code)
    for current in CATALOG.current_successors(code, year):
        assert current.end_year is None
