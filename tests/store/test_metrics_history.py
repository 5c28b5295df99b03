"""The metrics history on plain values: rollups merge exactly, minutes are rows, retention and the row cap prune on
write, series step over minutes, and a reopened file (a restarted daemon) carries on where it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aiplugs.store.metrics_history import MetricsHistory, history_path, history_report
from aiplugs.store.rollup import LATENCY_BOUNDS, Rollup, error_key
from aiplugs.util.histogram import Histogram, quantile

T0 = 1_700_000_040  # a minute start (divisible by 60)


def sample(minute: float, *, plugin: str = "echo", calls: int = 0, latencies: tuple[float, ...] = (),
           errors: dict[str, int] | None = None, cpu: float = 0.0, rss: int = 0, workers: int = 1,
           span: float = 5.0, **extra: float) -> Rollup:
    """One five-second sample, as the collector makes it."""
    hist = Histogram()
    for value in latencies:
        hist.observe(value)
    return Rollup(plugin, int(minute), samples=1, span_s=span, workers_sum=workers, workers_max=workers,
                  cpu_pct_sum=cpu, cpu_pct_max=cpu, rss_sum=rss, rss_max=rss, calls=calls,
                  errors=tuple(sorted((errors or {}).items())), latency=tuple(hist.counts), latency_sum=hist.sum,
                  **extra)


def test_rollups_add_sums_maxima_buckets_and_errors() -> None:
    a = sample(T0, calls=2, latencies=(0.002, 0.004), errors={"timeout": 1}, cpu=50.0, rss=100)
    b = sample(T0, calls=1, latencies=(2.0,), errors={"timeout": 2, "exception:ValueError": 1}, cpu=150.0, rss=300)
    both = a + b
    assert (both.samples, both.span_s, both.calls, both.cpu_pct_sum, both.cpu_pct_max, both.rss_max) == \
        (2, 10.0, 3, 200.0, 150.0, 300)
    assert dict(both.errors) == {"timeout": 3, "exception:ValueError": 1}
    assert sum(both.latency) == 3 and both.latency_sum == pytest.approx(2.006)
    summary = both.summary()
    assert summary["cpu_pct"] == 100.0 and summary["rss_bytes"] == 200 and summary["rps"] == 0.3
    assert summary["errors"] == 4 and summary["error_pct"] == pytest.approx(133.33)
    assert 1.0 < summary["p50_ms"] <= 5.0 and 1000 < summary["p99_ms"] <= 2500


def test_an_empty_rollup_says_nothing_was_measured() -> None:
    summary = Rollup("echo", T0).summary()
    assert summary["samples"] == 0 and summary["calls"] == 0
    assert summary["cpu_pct"] is None and summary["p50_ms"] is None and summary["rps"] is None


def test_error_keys_name_the_exception_type_only_for_exceptions() -> None:
    assert error_key("exception", "KeyError") == "exception:KeyError"
    assert error_key("timeout", "ignored") == "timeout"


def test_histogram_quantiles_interpolate_inside_a_bucket() -> None:
    hist = Histogram()
    for _ in range(100):
        hist.observe(0.0075)  # all in (0.005, 0.01]
    assert quantile(LATENCY_BOUNDS, hist.counts, 0.5) == pytest.approx(0.0075)
    hist.observe(1000.0)  # past the last bound: reported as the last bound
    assert quantile(LATENCY_BOUNDS, hist.counts, 1.0) == LATENCY_BOUNDS[-1]
    assert quantile(LATENCY_BOUNDS, [0] * len(hist.counts), 0.5) is None


def test_samples_of_one_minute_make_one_row(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite")
    history.write([sample(T0 + 5, calls=1), sample(T0 + 10, calls=2)])
    history.write([sample(T0 + 55, calls=3), sample(T0 + 60, calls=4)])
    rows = history.rollups("echo", T0, T0 + 120)
    assert [(r.minute, r.calls, r.samples) for r in rows] == [(T0, 6, 3), (T0 + 60, 4, 1)]


def test_the_file_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    path = history_path(tmp_path)
    MetricsHistory(path).write([sample(T0, calls=1)])
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert path.name == "metrics.sqlite"


def test_reopening_the_file_keeps_history_and_merges_into_the_same_minute(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    MetricsHistory(path).write([sample(T0 + 5, calls=2, latencies=(0.01, 0.01))])
    reopened = MetricsHistory(path)  # a restarted daemon
    assert reopened.window("echo", 120, now=T0 + 30)["calls"] == 2
    reopened.write([sample(T0 + 40, calls=1, latencies=(0.01,))])
    (row,) = MetricsHistory(path).rollups("echo", T0)
    assert (row.calls, row.samples, sum(row.latency)) == (3, 2, 3)


def test_retention_prunes_on_write(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite", retention_s=3600)
    history.write([sample(T0, calls=1), sample(T0 + 600, calls=1)])
    history.write([sample(T0 + 3600 + 300, calls=1)])  # an hour after T0 + 300: T0 is past retention
    assert [r.minute for r in history.rollups("echo", 0)] == [T0 + 600, T0 + 3900]


def test_the_row_cap_drops_the_oldest_rows(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite", max_rows=5)
    for n in range(8):  # a new minute each: each write prunes
        history.write([sample(T0 + 60 * n, calls=n)])
    assert [r.calls for r in history.rollups("echo", 0)] == [3, 4, 5, 6, 7]
    history.write([sample(T0 + 60 * 8 + 5, plugin="other", calls=1)])
    assert [r.calls for r in history.rollups("echo", 0)] == [4, 5, 6, 7]
    history.write([sample(T0 + 60 * 8 + 10, plugin="third", calls=1)])  # the same minute: no prune on write
    assert history.prune(now=T0 + 60 * 8) == 1 and len(history.rollups("echo", 0)) == 3


def test_series_steps_over_minutes_aligned_to_the_step(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite")
    base = T0 - T0 % 300  # a five-minute boundary
    history.write([sample(base + 60 * n, calls=n + 1, span=60) for n in range(10)])  # minutes 0..9
    history.write([sample(base + 60 * 20, calls=100, span=60)])  # then a gap: minutes 10..19 have no data
    per_minute = history.series("echo", base, base + 3600)
    assert [p["calls"] for p in per_minute] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100]
    five = history.series("echo", base, base + 3600, step=300)
    assert [(p["time"] - base, p["calls"], p["span_s"]) for p in five] == [(0, 15, 300), (300, 40, 300),
                                                                          (1200, 100, 60)]
    assert five[0]["rps"] == pytest.approx(15 / 300)
    assert history.series("echo", base, base + 3600, step=90)[0]["time"] % 120 == 0  # rounded up to 2 minutes
    assert [p["calls"] for p in history.series("echo", base + 120, base + 300)] == [3, 4, 5]


def test_window_summarises_the_last_seconds_of_one_plugin(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite")
    history.write([sample(T0 + 60 * n, calls=10, errors={"timeout": 1}, cpu=20.0 * n) for n in range(5)])
    history.write([sample(T0, plugin="other", calls=99)])
    last = history.window("echo", 120, now=T0 + 4 * 60 + 30)  # minutes 2, 3, 4
    assert (last["samples"], last["calls"], last["errors"], last["cpu_pct"]) == (3, 30, 3, 60.0)
    assert last["errors_by"] == {"timeout": 3} and last["error_pct"] == 10.0
    assert history.window("nobody", 600, now=T0)["samples"] == 0
    assert history.plugins() == ["echo", "other"]
    assert history.span() == (T0, T0 + 240)


def test_the_report_has_points_and_a_summary_of_the_range(tmp_path: Path) -> None:
    history = MetricsHistory(tmp_path / "m.sqlite")
    history.write([sample(T0 + 60 * n, calls=2) for n in range(3)])
    report = history_report(history, "echo", T0, T0 + 180, step=60)
    assert [p["calls"] for p in report["points"]] == [2, 2, 2]
    assert report["summary"]["calls"] == 6 and report["step"] == 60


def test_a_file_that_is_no_database_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    path.write_bytes(b"this is not sqlite, it was cut short" * 100)
    history = MetricsHistory(path)
    history.write([sample(T0, calls=1)])
    assert history.window("echo", 60, now=T0 + 1)["calls"] == 1
    assert (tmp_path / "m.sqlite.broken").read_bytes().startswith(b"this is not sqlite")


def test_another_schema_version_starts_a_new_history(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE rollups (whatever TEXT)")
        db.execute("PRAGMA user_version = 99")
    history = MetricsHistory(path)
    history.write([sample(T0, calls=4)])
    assert history.rollups("echo", 0)[0].calls == 4
