"""Chart geometry for server-side SVG: plain Python, no drawing library, no JavaScript.

Each function turns figures into shapes with coordinates (rounded to a tenth of a pixel); the templates draw
them as inline SVG with a title, a description and the same figures as a table, so a chart reads without a
screen. Values are never scaled to a hidden maximum: the axis shows the largest value, and a bar of 0 is drawn
as nothing, not as a sliver.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def _r(x: float) -> float:
    return round(x, 1)


def nice_max(value: int) -> int:
    """The axis top: the smallest of 1, 2, 2.5, 5 × 10^k that is at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = int(10 ** math.floor(math.log10(value)))
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return math.ceil(top)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    show_label: bool = True


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: float
    plot_height: float
    bars: list[Bar]
    ticks: list[Tick]

    @property
    def baseline(self) -> float:
        return _r(self.top + self.plot_height)


def column_chart(
    points: Sequence[tuple[str, int]],
    *,
    width: int = 1100,
    height: int = 240,
    left: int = 44,
    top: int = 12,
    bottom: int = 30,
    right: int = 8,
    max_labels: int = 16,
) -> ColumnChart:
    """Vertical bars, one per point (volumes per day or week); at most ``max_labels`` x labels shown."""
    plot_w = width - left - right
    plot_h = height - top - bottom
    top_value = nice_max(max((v for _, v in points), default=0))
    n = max(len(points), 1)
    band = plot_w / n
    every = max(1, math.ceil(len(points) / max_labels))
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / top_value
        bars.append(
            Bar(
                x=_r(left + i * band + band * 0.15),
                y=_r(top + plot_h - h),
                width=_r(band * 0.7),
                height=_r(h),
                label=label,
                value=value,
                show_label=(len(points) - 1 - i) % every == 0,
            )
        )
    ticks = [Tick(_r(top + plot_h - plot_h * f), round(top_value * f)) for f in (0, 0.5, 1)]
    if top_value == 1:
        ticks = [t for t in ticks if t.value in (0, 1)]
    return ColumnChart(width, height, left, top, _r(plot_w), _r(plot_h), bars, ticks)


@dataclass(frozen=True)
class Segment:
    key: str
    x: float
    width: float
    value: int


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    height: float
    total: int
    segments: list[Segment]
    end: float  # where the bar ends (its start when it is empty): the total is written after it


@dataclass(frozen=True)
class BarRows:
    width: int
    height: int
    left: int
    plot_width: float
    rows: list[Row]
    top_value: int


def bar_rows(
    rows: Sequence[tuple[str, Sequence[tuple[str, int]]]],
    *,
    width: int = 560,
    left: int = 200,
    right: int = 48,
    row_height: int = 26,
    gap: int = 8,
) -> BarRows:
    """Horizontal bars, one per row, each stacked from its (key, value) segments; one shared scale."""
    plot_w = width - left - right
    top_value = nice_max(max((sum(v for _, v in segs) for _, segs in rows), default=0))
    out = []
    for i, (label, segs) in enumerate(rows):
        y = i * (row_height + gap)
        x = float(left)
        segments = []
        for key, value in segs:
            w = plot_w * value / top_value
            if value > 0:
                segments.append(Segment(key, _r(x), _r(w), value))
            x += w
        out.append(Row(label, float(y), float(row_height), sum(v for _, v in segs), segments, _r(x)))
    height = max(len(rows) * (row_height + gap) - gap, row_height)
    return BarRows(width, height, left, _r(plot_w), out, top_value)


@dataclass(frozen=True)
class Gauge:
    """A half-circle gauge: ``track`` is the whole arc, ``value_path`` the part up to the rate."""

    width: int
    height: int
    cx: float
    cy: float
    radius: float
    track: str
    value_path: str | None
    rate: float | None


def gauge(rate: float | None, *, width: int = 240, height: int = 140, stroke: int = 22) -> Gauge:
    cx, cy = width / 2, float(height - 14)
    radius = min(cx - stroke, cy - stroke / 2)
    start = (_r(cx - radius), _r(cy))
    end = (_r(cx + radius), _r(cy))
    track = f"M {start[0]} {start[1]} A {_r(radius)} {_r(radius)} 0 0 1 {end[0]} {end[1]}"
    value_path = None
    if rate is not None and rate > 0:
        angle = math.pi * (1 - min(rate, 1.0))
        x, y = _r(cx + radius * math.cos(angle)), _r(cy - radius * math.sin(angle))
        value_path = f"M {start[0]} {start[1]} A {_r(radius)} {_r(radius)} 0 0 1 {x} {y}"
    return Gauge(width, height, _r(cx), _r(cy), _r(radius), track, value_path, rate)
