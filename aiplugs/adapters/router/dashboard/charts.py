"""Line charts as SVG text, drawn on the server: no chart library, no script, readable without JavaScript.

A chart is a pure function of its series. Gaps (``None``: nothing measured in that step) break the line instead of
being drawn as zero. Colours come from the page's CSS classes (``series-0``, ``series-1``...), so the charts
follow ``prefers-color-scheme``; the ``<title>`` and ``<desc>`` name the chart and its latest and highest values
for screen readers, and the page puts the numbers in a table beside it.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["Series", "fmt", "line_chart"]

Point = tuple[float, "float | None"]  # (unix time, value)


@dataclass(frozen=True)
class Series:
    label: str
    points: tuple[Point, ...]


def fmt(value: float | None, unit: str) -> str:
    """``value`` for people, in ``unit`` (``ms``, ``bytes``, ``%``, ``/s`` or a count)."""
    if value is None:
        return "-"
    if unit == "bytes":
        for name, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if abs(value) >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    number = f"{value:.2g}" if 0 < abs(value) < 1 else f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
    if unit == "/s":
        return f"{number}/s"
    if unit:
        return f"{number} {unit}"
    return f"{value:g}"


def _nice_max(value: float) -> float:
    """The top of the y axis: ``value`` rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    return next(step * scale for step in (1, 2, 5, 10) if step * scale >= value * 0.999999)


def _segments(points: Sequence[Point], x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
    """``points`` as the ``points`` attributes of polylines, one per unbroken run."""
    runs, current = [], []
    for t, v in points:
        if v is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(f"{x(t):.1f},{y(v):.1f}")
    if current:
        runs.append(current)
    return [" ".join(run) for run in runs]


def line_chart(chart_id: str, title: str, unit: str, series: Sequence[Series], *, width: int = 640,
               height: int = 180, span: tuple[float, float] | None = None) -> str:
    """An ``<svg>`` with one line per series over ``span`` (start, end; default: the series' own range)."""
    left, right, top, bottom = 64, 12, 12, 28
    times = [t for s in series for t, _ in s.points]
    values = [v for s in series for _, v in s.points if v is not None]
    esc = html.escape
    heading = f'<title id="{esc(chart_id)}-t">{esc(title)}</title>'
    if not times or not values:
        return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{esc(chart_id)}-t">'
                f'{heading}<text x="{width // 2}" y="{height // 2}" text-anchor="middle" class="chart-empty">'
                'no data in this range</text></svg>')
    t0, t1 = span if span is not None and span[1] > span[0] else (min(times), max(times))
    width_s = (t1 - t0) or 1.0
    scale = 1 << 20 if unit == "bytes" else 1  # MiB steps read better than 47.7 MiB
    top_value = _nice_max(max(values) / scale) * scale

    def x(t: float) -> float:
        return left + (t - t0) / width_s * (width - left - right)

    def y(v: float) -> float:
        return top + (1 - v / top_value) * (height - top - bottom)

    latest = "; ".join(f"{s.label}: latest {fmt(_last(s), unit)}, highest "
                       f"{fmt(max((v for _, v in s.points if v is not None), default=None), unit)}" for s in series)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-labelledby="{esc(chart_id)}-t {esc(chart_id)}-d">', heading,
             f'<desc id="{esc(chart_id)}-d">{esc(latest)}</desc>']
    for frac in (0.0, 0.5, 1.0):  # horizontal grid lines with their values
        gy = y(top_value * frac)
        parts.append(f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        parts.append(f'<text class="chart-label" x="{left - 6}" y="{gy + 4:.1f}" text-anchor="end">'
                     f'{esc(fmt(top_value * frac, unit))}</text>')
    for tx, anchor in ((t0, "start"), (t1, "end")) if t1 > t0 else ((t0, "start"),):
        parts.append(f'<text class="chart-label" x="{x(tx):.1f}" y="{height - 8}" text-anchor="{anchor}">'
                     f'{esc(time.strftime("%H:%M", time.localtime(tx)))}</text>')
    for index, s in enumerate(series):
        for run in _segments(s.points, x, y):
            if " " not in run:  # a lone point: a dot, as a line needs two
                cx, cy = run.split(",")
                parts.append(f'<circle class="series-{index}" cx="{cx}" cy="{cy}" r="2.5"/>')
            else:
                parts.append(f'<polyline class="series-{index}" fill="none" points="{run}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _last(series: Series) -> float | None:
    return next((v for _, v in reversed(series.points) if v is not None), None)
