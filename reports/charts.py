"""Server-side SVG geometry for the report charts (no chart library, nothing for a CDN or
the Content-Security-Policy to block). The templates in templates/reports/charts/ draw it."""

import math
from dataclasses import dataclass, field
from decimal import Decimal

from reports.selectors import Chart, Point

# Colours of the Bootstrap palette (and a few tints), in series order.
PALETTE = ("#0d6efd", "#20c997", "#fd7e14", "#6f42c1", "#dc3545", "#198754", "#0dcaf0", "#ffc107", "#6c757d")
WIDTH = 640
LABEL_CHARS = 12


def svg_number(value: float) -> str:
    """A coordinate as SVG wants it: never localised ("12,5" would break the drawing), and
    a string, so the templates do not format thousands of numbers."""
    return f"{round(float(value), 1):g}"


@dataclass
class Rect:
    x: float | str
    y: float | str
    width: float | str
    height: float | str
    point: Point
    colour: str

    def __post_init__(self):
        self.x, self.y, self.width, self.height = (
            svg_number(v) for v in (self.x, self.y, self.width, self.height)
        )


@dataclass
class Text:
    x: float | str
    y: float | str
    text: str
    full: str = ""

    def __post_init__(self):
        self.x, self.y = svg_number(self.x), svg_number(self.y)


@dataclass
class Layout:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Text] = field(default_factory=list)  # category labels
    ticks: list[Text] = field(default_factory=list)  # value axis
    grid: list[float] = field(default_factory=list)  # value-axis lines (x or y)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (colour, series)
    horizontal: bool = False
    plot_left: float | str = 0
    plot_right: float | str = 0
    plot_top: float | str = 0
    plot_bottom: float | str = 0

    def __post_init__(self):
        self.plot_left, self.plot_right = svg_number(self.plot_left), svg_number(self.plot_right)
        self.plot_top, self.plot_bottom = svg_number(self.plot_top), svg_number(self.plot_bottom)


def nice_max(value: float, ticks: int = 4) -> float:
    """The axis end: `ticks` steps of 1, 2, 2.5 or 5 times a power of ten, at or above
    `value`; whole steps of at least 1 (counts never get a 1.25 tick)."""
    if value <= 0:
        return ticks
    rough = value / ticks
    power = 10 ** math.floor(math.log10(rough))
    for step in (1, 2, 2.5, 5, 10):
        size = step * power
        if rough <= size and size >= 1 and size % 1 == 0:
            return size * ticks
    return max(10 * power, 1) * ticks


def short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tick_text(value: float) -> str:
    if value >= 10_000_000:
        return _trim(value / 1_000_000) + "M"
    if value >= 10_000:
        return _trim(value / 1000) + "k"
    return _trim(value)


def _trim(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _value(point: Point) -> float:
    return float(point.value or 0) if not isinstance(point.value, Decimal) else float(point.value)


def layout(chart: Chart) -> Layout:
    if chart.kind == "columns":
        return _columns(chart)
    if chart.kind == "stacked":
        return _stacked_bars(chart)
    return _bars(chart)


def _columns(chart: Chart) -> Layout:
    left, right, top, bottom = 56, 8, 10, 36
    height = 240
    out = Layout(
        WIDTH, height, plot_left=left, plot_right=WIDTH - right, plot_top=top, plot_bottom=height - bottom
    )
    top_value = nice_max(max((_value(p) for p in chart.points), default=0))
    plot_h = height - top - bottom
    slot = (WIDTH - left - right) / max(len(chart.points), 1)
    for i in range(5):
        y = top + plot_h * i / 4
        out.grid.append(svg_number(y))
        out.ticks.append(Text(left - 6, y + 4, tick_text(top_value * (4 - i) / 4)))
    for i, point in enumerate(chart.points):
        h = plot_h * _value(point) / top_value
        x = left + slot * i + slot * 0.15
        out.rects.append(
            Rect(
                round(x, 1), round(top + plot_h - h, 1), round(slot * 0.7, 1), round(h, 1), point, PALETTE[0]
            )
        )
        out.labels.append(
            Text(
                round(left + slot * (i + 0.5), 1),
                height - bottom + 16,
                point.short or short(point.label, 8),
                point.label,
            )
        )
    return out


def _bars(chart: Chart) -> Layout:
    left, right, top, row = 150, 70, 6, 26
    height = top * 2 + row * max(len(chart.points), 1)
    out = Layout(
        WIDTH,
        height,
        horizontal=True,
        plot_left=left,
        plot_right=WIDTH - right,
        plot_top=top,
        plot_bottom=height - top,
    )
    top_value = nice_max(max((_value(p) for p in chart.points), default=0))
    plot_w = WIDTH - left - right
    for i, point in enumerate(chart.points):
        w = plot_w * _value(point) / top_value
        y = top + row * i
        out.rects.append(
            Rect(
                left,
                y + 4,
                round(w, 1),
                row - 8,
                point,
                PALETTE[i % len(PALETTE)] if chart.key == "tiers" else PALETTE[0],
            )
        )
        out.labels.append(Text(left - 6, y + row / 2 + 4, short(point.label), point.label))
        out.ticks.append(Text(round(left + w + 4, 1), y + row / 2 + 4, tick_text(_value(point))))
    return out


def _stacked_bars(chart: Chart) -> Layout:
    left, right, top, row = 150, 70, 6, 26
    reps: list[str] = []
    for p in chart.points:
        if p.label not in reps:
            reps.append(p.label)
    height = top * 2 + row * max(len(reps), 1)
    out = Layout(
        WIDTH,
        height,
        horizontal=True,
        plot_left=left,
        plot_right=WIDTH - right,
        plot_top=top,
        plot_bottom=height - top,
    )
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(chart.series)}
    out.legend = [(colours[s], s) for s in chart.series]
    totals = {rep: sum(_value(p) for p in chart.points if p.label == rep) for rep in reps}
    top_value = nice_max(max(totals.values(), default=0))
    plot_w = WIDTH - left - right
    offsets = dict.fromkeys(reps, 0.0)
    for point in chart.points:
        i = reps.index(point.label)
        w = plot_w * _value(point) / top_value
        if w > 0:
            out.rects.append(
                Rect(
                    round(left + offsets[point.label], 1),
                    top + row * i + 4,
                    round(w, 1),
                    row - 8,
                    point,
                    colours.get(point.series, PALETTE[0]),
                )
            )
        offsets[point.label] += w
    for i, rep in enumerate(reps):
        y = top + row * i + row / 2 + 4
        out.labels.append(Text(left - 6, y, short(rep), rep))
        out.ticks.append(Text(round(left + offsets[rep] + 4, 1), y, tick_text(totals[rep])))
    return out
