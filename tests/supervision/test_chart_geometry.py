"""Chart geometry without a database: axis tops, bar heights in proportion, zero drawn as nothing, the gauge."""

from __future__ import annotations

import pytest

from tongban.supervision import charts


@pytest.mark.parametrize(
    ("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (23, 25), (260, 500), (1000, 1000)]
)
def test_axis_top(value: int, top: int) -> None:
    assert charts.nice_max(value) == top


def test_columns_are_in_proportion_and_labels_thinned() -> None:
    c = charts.column_chart(
        [(f"d{i}", v) for i, v in enumerate([0, 5, 10, 2] * 10)], height=240, max_labels=10
    )
    assert c.plot_height == 240 - 12 - 30
    heights = {b.value: b.height for b in c.bars}
    assert (
        heights[0] == 0
        and heights[10] == c.plot_height
        and heights[5] == pytest.approx(c.plot_height / 2, 0.01)
    )
    assert all(b.y + b.height == pytest.approx(c.baseline, abs=0.2) for b in c.bars)
    assert sum(b.show_label for b in c.bars) == 10 and c.bars[-1].show_label
    assert [t.value for t in c.ticks] == [0, 5, 10]


def test_stacked_rows_share_one_scale() -> None:
    r = charts.bar_rows(
        [("a", [("x", 3), ("y", 0), ("z", 2)]), ("b", [("x", 10)])], width=400, left=100, right=50
    )
    a, b = r.rows
    assert r.top_value == 10 and b.segments[0].width == 250
    assert [s.key for s in a.segments] == ["x", "z"]  # a zero segment is not drawn
    assert a.segments[1].x == pytest.approx(a.segments[0].x + a.segments[0].width)
    assert a.total == 5 and a.end == pytest.approx(100 + 125)
    empty = charts.bar_rows([("c", [("x", 0)])], width=400, left=100, right=50).rows[0]
    assert empty.segments == [] and empty.end == 100  # the total 0 is written at the bar's start


def test_gauge_arc_ends_where_the_rate_says() -> None:
    assert charts.gauge(None).value_path is None and charts.gauge(0.0).value_path is None
    full = charts.gauge(1.0)
    assert full.value_path is not None and full.value_path.endswith(f"{full.cx + full.radius} {full.cy}")
    half = charts.gauge(0.5)
    assert half.value_path is not None and half.value_path.endswith(f"{half.cx} {half.cy - half.radius}")
