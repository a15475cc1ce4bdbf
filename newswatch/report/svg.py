"""Charts as inline SVG elements, drawn in Python: no JavaScript, nothing fetched.

Every chart is an ``xml.etree.ElementTree`` element, so every label (entity names, outlets,
feed-provided text) is escaped by the serializer, never by hand. Each chart is an
``<svg class="chart">`` with an ``aria-label``; hover text lives in ``<title>`` children.
Time runs in weeks: a chart over weeks says so (``data-x-unit="week"``, ``data-x-from``,
``data-x-to``) and each bar carries its week and value (``data-week``, ``data-value``), so a
test can read what is drawn. Bars are whole pixels with ``crispEdges``: their colour is exact
in a screenshot.
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
class WeekBar:
    value: int
    note: str  # hover text
    partial: bool = False  # a week of fewer than seven days in the window (drawn paler)


@dataclass(frozen=True)
class Panel:
    """One entity of a small-multiples chart: a bar per week, marked weeks ringed."""

    key: str  # the entity id (``data-entity-id``)
    title: str
    subtitle: str
    bars: tuple[WeekBar, ...]  # one per week, aligned with the chart's weeks
    marks: tuple[tuple[int, str], ...] = ()  # (week index, hover text): spike weeks


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str  # the text printed after the bar


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def week_bars(
    label: str,
    weeks: Sequence[tuple[date, date]],
    bars: Sequence[WeekBar],
    *,
    bar_color: str,
    height: int = 240,
) -> Element:
    """One vertical bar per week (``weeks``: first and last day), its count printed on top."""
    left, right, top, bottom = 48, 16, 18, 34
    svg = _svg(label, WIDTH, height)
    _week_axis_attrs(svg, weeks)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    y_max = _nice_ceiling(max(max((b.value for b in bars), default=0), 5))
    for tick in _ticks(y_max):
        y = top + plot_h - plot_h * tick / y_max
        SubElement(svg, "line", _attrs(x1=left, x2=WIDTH - right, y1=y, y2=y, **{"class": "grid"}))
        _text(svg, f"{tick:g}", left - 6, y + 4, anchor="end")
    _bars(svg, weeks, bars, bar_color, (left, top, plot_w, plot_h), y_max, values=True)
    for i in _date_tick_indexes(len(weeks)):
        slot = plot_w / len(weeks)
        _text(svg, weeks[i][0].isoformat(), left + slot * (i + 0.5), height - 12, anchor="middle")
    if not any(b.value for b in bars):
        _text(svg, "no data in this window", WIDTH / 2, top + plot_h / 2, anchor="middle")
    return svg


def small_multiples(
    label: str,
    weeks: Sequence[tuple[date, date]],
    panels: Sequence[Panel],
    *,
    bar_color: str,
    columns: int = 3,
) -> Element:
    """A grid of small weekly bar charts, one per panel, on one shared count scale (so panels
    compare at a glance); a marked week gets a ringed dot above its bar."""
    panel_w, panel_h = WIDTH / columns, 150
    left, right, top, bottom = 30, 14, 38, 22
    rows = max(math.ceil(len(panels) / columns), 1)
    svg = _svg(label, WIDTH, panel_h * rows)
    _week_axis_attrs(svg, weeks)
    if not panels:
        _text(svg, "no topic-specific entity in this window", 16, 40)
        return svg
    y_max = _nice_ceiling(max(max((b.value for p in panels for b in p.bars), default=0), 2))
    plot_w, plot_h = panel_w - left - right, panel_h - top - bottom
    for n, panel in enumerate(panels):
        x0, y0 = panel_w * (n % columns), panel_h * (n // columns)
        group = SubElement(
            svg,
            "g",
            {"class": "series", "data-entity-id": panel.key, "data-label": panel.title},
        )
        SubElement(group, "title").text = f"{panel.title}: {panel.subtitle}"
        _text(group, _clip(panel.title, 40), x0 + 4, y0 + 15, css="panel-title")
        _text(group, panel.subtitle, x0 + 4, y0 + 29, css="panel-note")
        box = (x0 + left, y0 + top, plot_w, plot_h)
        for value in (0, y_max):
            y = box[1] + plot_h - plot_h * value / y_max
            SubElement(
                group,
                "line",
                _attrs(x1=box[0], x2=box[0] + plot_w, y1=y, y2=y, **{"class": "grid"}),
            )
            _text(group, f"{value:g}", box[0] - 4, y + 4, anchor="end", css="panel-note")
        _bars(group, weeks, panel.bars, bar_color, box, y_max, values=False)
        slot = plot_w / max(len(weeks), 1)
        for i, note in panel.marks:
            value = panel.bars[i].value
            dot = SubElement(
                group,
                "circle",
                _attrs(
                    cx=box[0] + slot * (i + 0.5),
                    cy=box[1] + plot_h - plot_h * value / y_max - 7,
                    r=4,
                    fill="#e15759",
                    **{"class": "spike", "stroke": "#111", "stroke-width": "1.2"},
                ),
            )
            SubElement(dot, "title").text = note
        if weeks:
            base = y0 + panel_h - 6
            _text(group, weeks[0][0].isoformat(), box[0], base, css="panel-note")
            _text(
                group,
                weeks[-1][0].isoformat(),
                box[0] + plot_w,
                base,
                anchor="end",
                css="panel-note",
            )
    return svg


def _bars(
    parent: Element,
    weeks: Sequence[tuple[date, date]],
    bars: Sequence[WeekBar],
    bar_color: str,
    box: tuple[float, float, float, float],
    y_max: float,
    *,
    values: bool,
) -> None:
    """The bars of one weekly chart inside ``box`` (x, y, width, height) and its base line."""
    x0, y0, plot_w, plot_h = box
    slot = plot_w / max(len(weeks), 1)
    for i, ((start, end), bar) in enumerate(zip(weeks, bars, strict=True)):
        height = plot_h * bar.value / y_max
        rect = SubElement(
            parent,
            "rect",
            _attrs(
                x=round(x0 + slot * i + slot * 0.14),
                y=round(y0 + plot_h - height),
                width=max(round(slot * 0.72), 1),
                height=round(height),
                fill=bar_color,
                **{
                    "class": "bar partial" if bar.partial else "bar",
                    "shape-rendering": "crispEdges",
                    "data-week": start.isoformat(),
                    "data-value": bar.value,
                },
            ),
        )
        if bar.partial:
            rect.set("fill-opacity", "0.45")
        SubElement(rect, "title").text = f"{start.isoformat()} to {end.isoformat()}: {bar.note}"
        if values and bar.value:
            _text(
                parent,
                str(bar.value),
                x0 + slot * (i + 0.5),
                y0 + plot_h - height - 4,
                anchor="middle",
                css="bar-value",
            )
    SubElement(
        parent,
        "line",
        _attrs(x1=x0, x2=x0 + plot_w, y1=y0 + plot_h, y2=y0 + plot_h, **{"class": "axis"}),
    )


def _week_axis_attrs(svg: Element, weeks: Sequence[tuple[date, date]]) -> None:
    """Say on the chart what its x axis is: weeks, from the first day to the last."""
    svg.set("data-x-unit", "week")
    if weeks:
        svg.set("data-x-from", weeks[0][0].isoformat())
        svg.set("data-x-to", weeks[-1][1].isoformat())


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
