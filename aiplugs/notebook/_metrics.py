"""A plugin's metrics history as a notebook view: a table of one row per step, the summary of the whole range, and
``.plot()`` — a matplotlib figure of the columns over time (matplotlib loads only then)."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any, Mapping, Sequence

from ._html import esc, records_frame, table
from ._status_views import TableView

__all__ = ["MetricsView", "offline_history"]

LABELS = {"rps": "requests/s", "p50_ms": "p50 ms", "p95_ms": "p95 ms", "p99_ms": "p99 ms", "cpu_pct": "CPU %",
          "rss_bytes": "memory MiB", "error_pct": "errors %", "inflight": "in flight", "wait_ms": "wait ms",
          "workers": "workers", "utilization": "utilization"}
PLOTTED = ("rps", "p95_ms", "cpu_pct", "rss_bytes")


def offline_history(state_dir: Any, plugin_id: str, since: str | float, until: str | float | None,
                    step: str | float) -> dict[str, Any]:
    """What ``/api/metrics/{plugin}`` would answer, read from ``metrics.sqlite`` itself (no daemon runs)."""
    from ..store.metrics_history import MetricsHistory, history_path, history_report
    from ..util.timespec import parse_duration, parse_since

    now = time.time()
    return history_report(MetricsHistory(history_path(state_dir)), plugin_id, parse_since(since, now),
                          parse_since(until, now) if until is not None else now, int(parse_duration(step)))


def _pyplot():
    """matplotlib is optional (the ``notebook`` extra): imported only to draw."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("MetricsView.plot() needs matplotlib: pip install matplotlib "
                          "(or pip install 'aiplugs[notebook]')") from None
    return plt


class MetricsView(TableView):
    """``Session.metrics(plugin)``: rows are ``Rollup.summary()`` dicts (see ``aiplugs.store.rollup``), one per
    step that holds data, oldest first; ``summary`` is the same over the whole range."""

    columns = ("time", "workers", "cpu_pct", "rss_mib", "rps", "p50_ms", "p95_ms", "error_pct", "inflight",
               "wait_ms")
    key = "time"

    def __init__(self, report: Mapping[str, Any]) -> None:
        super().__init__(report.get("points") or [])
        self.report = dict(report)
        self.plugin = str(report.get("plugin"))
        self.step = int(report.get("step") or 60)
        self.title = f"{self.plugin}: one row per {self.step // 60} min"

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.report.get("summary") or {})

    def cells(self, row: Mapping[str, Any]) -> list[Any]:
        rss = row.get("rss_bytes")
        shown = {**row, "time": time.strftime("%Y-%m-%d %H:%M", time.localtime(row["time"])),
                 "rss_mib": round(rss / 2**20, 1) if rss is not None else None}
        return [shown.get(c) for c in self.columns]

    def to_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(self.report)

    def to_pandas(self):
        frame = records_frame(self.rows)
        if len(frame):
            frame.index = frame.pop("time").map(datetime.fromtimestamp)
            frame.index.name = "time"
        return frame

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p>No metrics of <code>{esc(self.plugin)}</code> in this range.</p>"
        total = self.summary
        head = table(["calls", "req/s", "p50 ms", "p95 ms", "errors %", "CPU %", "memory MiB"], [[
            total.get("calls"), total.get("rps"), total.get("p50_ms"), total.get("p95_ms"), total.get("error_pct"),
            total.get("cpu_pct"), round(total["rss_bytes"] / 2**20, 1) if total.get("rss_bytes") else None]],
            caption=f"{self.plugin}: the whole range")
        return head + super()._repr_html_()

    def plot(self, columns: Sequence[str] = PLOTTED, *, title: str | None = None):
        """One panel per column over time (shared time axis); returns the matplotlib Figure. Steps without data
        are gaps."""
        plt = _pyplot()
        fig, axes = plt.subplots(len(columns), 1, sharex=True, figsize=(9, 1.8 * len(columns) + 0.6),
                                 squeeze=False)
        times = [datetime.fromtimestamp(row["time"]) for row in self.rows]
        for ax, column in zip(axes[:, 0], columns):
            scale = 2**20 if column == "rss_bytes" else 1
            values = [row[column] / scale if row.get(column) is not None else math.nan for row in self.rows]
            ax.plot(times, values, marker=".", linewidth=1.2)
            ax.set_ylabel(LABELS.get(column, column))
            ax.grid(True, alpha=0.3)
        fig.suptitle(title or f"{self.plugin} (step {self.step // 60} min)")
        fig.autofmt_xdate()
        plt.close(fig)  # returned, not shown twice: Jupyter displays the figure it gets back
        return fig
