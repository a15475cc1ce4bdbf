"""Charts as inline SVG elements, drawn in Python: no JavaScript, nothing fetched.

Every chart is an ``xml.etree.ElementTree`` element, so every label (entity names, outlets,
feed-provided text) is escaped by the serializer, never by hand. Each chart is an
``<svg class="chart">`` with an ``aria-label``; hover text lives in ``<title>`` children.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from xml.etree.ElementTree import Element, SubElement

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#b8860b",
    "#b07aa1",
    "#9c755f",
    "#ff9da7",
    "#6b6ecf",
)
WIDTH = 960
FONT = 12


@dataclass(frozen=True)
class Line:
    label: str
    color: str
    values: tuple[float, ...]  # one per day, aligned with the chart's days
    marked: tuple[int, ...] = ()  # indexes of days to mark (spikes)
    notes: tuple[str, ...] = ()  # hover text of each marked day, same order


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str  # the text printed after the bar


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def line_chart(
    label: str, days: Sequence[date], lines: Sequence[Line], *, height: int = 300
) -> Element:
    """One polyline per series over ``days``; marked days get a ringed dot with hover text."""
    left, right, top, bottom = 48, 16, 14, 30
    svg = _svg(label, WIDTH, height)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    peak = max((v for line in lines for v in line.values), default=0.0)
    y_max = _nice_ceiling(max(peak, 5.0))  # counts: at least 0-5, so every tick is whole
    n = len(days)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    for tick in _ticks(y_max):
        y = y_at(tick)
        SubElement(svg, "line", _attrs(x1=left, x2=WIDTH - right, y1=y, y2=y, **{"class": "grid"}))
        _text(svg, f"{tick:g}", left - 6, y + 4, anchor="end")
    ticks = _date_tick_indexes(n)
    for i in ticks:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        _text(svg, days[i].isoformat(), x_at(i), height - 10, anchor=anchor)
    SubElement(
        svg,
        "line",
        _attrs(x1=left, x2=WIDTH - right, y1=top + plot_h, y2=top + plot_h, **{"class": "axis"}),
    )
    if not lines or n == 0:
        _text(svg, "no data in this window", WIDTH / 2, top + plot_h / 2, anchor="middle")
        return svg
    for line in lines:
        group = SubElement(svg, "g", {"class": "series", "data-label": line.label})
        SubElement(group, "title").text = line.label
        points = " ".join(f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(line.values))
        SubElement(
            group,
            "polyline",
            {"points": points, "fill": "none", "stroke": line.color, "stroke-width": "1.8"},
        )
        for i, note in zip(line.marked, line.notes, strict=True):
            dot = SubElement(
                group,
                "circle",
                _attrs(
                    cx=x_at(i),
                    cy=y_at(line.values[i]),
                    r=5,
                    fill=line.color,
                    **{"class": "spike", "stroke": "#111", "stroke-width": "1.5"},
                ),
            )
            SubElement(dot, "title").text = note
    return svg


def heatmap(label: str, names: Sequence[str], counts: dict[tuple[int, int], int]) -> Element:
    """A symmetric matrix: cell (i, j) shades by ``counts[(i, j)]`` (i < j) and prints it."""
    cell, left, top = 44, 210, 140
    names = [_clip(name, 26) for name in names]
    n = len(names)
    size_w, size_h = left + cell * max(n, 1) + 130, top + cell * max(n, 1) + 16
    svg = _svg(label, size_w, size_h)
    if n < 2:
        _text(svg, "fewer than two entities in this window", 16, 40)
        return svg
    peak = max(counts.values(), default=0) or 1
    for i, name in enumerate(names):
        _text(svg, name, left - 8, top + cell * i + cell / 2 + 4, anchor="end")
        x, y = left + cell * i + cell / 2, top - 8
        _text(svg, name, x, y, anchor="start", rotate=(-45, x, y))
    for i in range(n):
        for j in range(n):
            key = (min(i, j), max(i, j))
            value = counts.get(key, 0) if i != j else None
            shade = 0.0 if value is None else value / peak
            rect = SubElement(
                svg,
                "rect",
                _attrs(
                    x=left + cell * j,
                    y=top + cell * i,
                    width=cell - 2,
                    height=cell - 2,
                    fill="#eee" if value is None else _blend(shade),
                    **{"class": "cell"},
                ),
            )
            if value is not None:
                SubElement(rect, "title").text = f"{names[i]} + {names[j]}: {value} articles"
                _text(
                    svg,
                    str(value),
                    left + cell * j + cell / 2 - 1,
                    top + cell * i + cell / 2 + 4,
                    anchor="middle",
                    css="cell-label dark" if shade > 0.55 else "cell-label",
                )
    return svg


def bar_chart(label: str, bars: Sequence[Bar], *, bar_color: str = PALETTE[0]) -> Element:
    """Horizontal bars, one row per label, the note printed after each bar."""
    row, left, right, top = 26, 200, 150, 8
    height = top * 2 + row * max(len(bars), 1)
    svg = _svg(label, WIDTH, height)
    if not bars:
        _text(svg, "no data in this window", 16, top + 16)
        return svg
    peak = max(b.value for b in bars) or 1
    plot_w = WIDTH - left - right
    for i, bar in enumerate(bars):
        y = top + row * i
        _text(svg, _clip(bar.label, 28), left - 8, y + row / 2 + 4, anchor="end")
        width = max(plot_w * bar.value / peak, 1)
        rect = SubElement(
            svg,
            "rect",
            _attrs(
                x=left, y=y + 4, width=width, height=row - 8, fill=bar_color, **{"class": "bar"}
            ),
        )
        SubElement(rect, "title").text = f"{bar.label}: {bar.note}"
        _text(svg, bar.note, left + width + 6, y + row / 2 + 4)
    return svg


def _svg(label: str, width: float, height: float) -> Element:
    return Element(
        "svg",
        {
            "class": "chart",
            "role": "img",
            "aria-label": label,
            "viewBox": f"0 0 {width:g} {height:g}",
            "width": f"{width:g}",
            "height": f"{height:g}",
            "xmlns": "http://www.w3.org/2000/svg",
        },
    )


def _text(
    parent: Element,
    content: str,
    x: float,
    y: float,
    *,
    anchor: str = "start",
    css: str = "",
    rotate: tuple[float, float, float] | None = None,
) -> Element:
    attrs = _attrs(x=x, y=y, **{"text-anchor": anchor, "font-size": FONT})
    if css:
        attrs["class"] = css
    if rotate:
        attrs["transform"] = "rotate({:g} {:.1f} {:.1f})".format(*rotate)
    node = SubElement(parent, "text", attrs)
    node.text = content
    return node


def _attrs(**values: object) -> dict[str, str]:
    return {
        key: f"{value:.1f}" if isinstance(value, float) else str(value)
        for key, value in values.items()
    }


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _ticks(y_max: float) -> list[float]:
    """Whole-number ticks for a ``_nice_ceiling`` of at least 5: 5, 10, 20, 25, 50, 100, …"""
    leading = y_max / 10 ** math.floor(math.log10(y_max))
    count = 4 if leading == 2 else 5
    return [y_max * k / count for k in range(count + 1)]


def _date_tick_indexes(n: int, count: int = 7) -> list[int]:
    if n <= 0:
        return []
    if n <= count:
        return list(range(n))
    return sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})


def _blend(shade: float) -> str:
    """White to the palette's blue, by ``shade`` in [0, 1]."""
    start, end = (255, 255, 255), (0x2B, 0x57, 0x8C)
    r, g, b = (round(s + (e - s) * shade) for s, e in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
