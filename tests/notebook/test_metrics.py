"""``Session.metrics``: the history as a table view with a matplotlib plot; read from metrics.sqlite when no daemon
runs (the daemon's answer has the same shape: tests/e2e/test_metrics.py)."""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime, UTC
from pathlib import Path

import pytest

from aiplugs.notebook import MetricsView, Session
from aiplugs.store.metrics_history import MetricsHistory, history_path
from aiplugs.store.rollup import Rollup

from ..conftest import clean_environ

MINUTE = int(time.time()) // 60 * 60


def report() -> dict:
    points = [
        {"time": MINUTE - 120, "workers": 1.0, "cpu_pct": 10.0, "rss_bytes": 30 * 2**20, "rps": 2.0, "p50_ms": 1.5,
         "p95_ms": 4.0, "error_pct": 0.0, "inflight": 0.1, "wait_ms": 0.01, "calls": 120},
        {"time": MINUTE - 60, "workers": 1.0, "cpu_pct": None, "rss_bytes": None, "rps": 0.0, "p50_ms": None,
         "p95_ms": None, "error_pct": None, "inflight": 0.0, "wait_ms": None, "calls": 0},
    ]
    return {"plugin": "echo", "since": MINUTE - 3600, "until": MINUTE, "step": 60, "points": points,
            "summary": {"calls": 120, "rps": 1.0, "p50_ms": 1.5, "p95_ms": 4.0, "error_pct": 0.0, "cpu_pct": 10.0,
                        "rss_bytes": 30 * 2**20}}


def test_the_view_is_a_table_of_steps_with_the_range_summary() -> None:
    view = MetricsView(report())
    assert len(view) == 2 and view.summary["calls"] == 120 and view.to_dict()["plugin"] == "echo"
    assert view.cells(view[0])[3] == 30.0  # memory in MiB
    assert repr(view).splitlines()[0].split()[:5] == ["time", "workers", "cpu_pct", "rss_mib", "rps"]
    html = view._repr_html_()
    assert "the whole range" in html and "30.0" in html and "<table" in html
    frame = view.to_pandas()
    assert list(frame["calls"]) == [120, 0] and frame.index.name == "time"
    assert "No metrics" in MetricsView({"plugin": "x", "points": []})._repr_html_()


def test_plot_draws_one_panel_per_column_with_gaps_for_missing_values() -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = MetricsView(report()).plot(("rps", "rss_bytes", "p95_ms"))
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["requests/s", "memory MiB", "p95 ms"]
    assert list(axes[0].lines[0].get_ydata()) == [2.0, 0.0]
    first, second = axes[1].lines[0].get_ydata()
    assert first == 30.0 and math.isnan(second)


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        MetricsView(report()).plot()


def test_without_a_daemon_the_session_reads_the_history_file(project: Path) -> None:
    session = Session(project / "aiplugs.toml", env=clean_environ())
    MetricsHistory(history_path(session.state_dir)).write([
        Rollup("word-count", MINUTE - 60 * n, samples=12, span_s=60, calls=6 * (n + 1)) for n in range(3)])
    view = session.metrics("word-count", since="1h", step="2m")
    assert view.plugin == "word-count" and view.step == 120
    assert sum(row["calls"] for row in view) == 36 == view.summary["calls"]
    newest = datetime.fromtimestamp(MINUTE, UTC).isoformat()
    assert [row["calls"] for row in session.metrics("word-count", since=newest)] == [6]
    assert len(session.metrics("nobody")) == 0
