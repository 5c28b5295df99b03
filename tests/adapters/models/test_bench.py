"""The models benchmark still runs end to end in its quick setting (behaviour only; timings live in benchmarks/)."""

from __future__ import annotations

from benchmarks.bench_models import run


def test_quick_benchmark_runs_and_reports():
    result = run(quick=True)
    assert result["size_bytes"] == 64 << 20
    for client in ("raw", "raw_fsync", "aiplugs"):
        assert result[client]["mib_per_s"] > 0 and result[client]["peak_rss_mb"] > 0
    assert result["ratio_vs_raw"] > 0 and result["cache_hit_ms"]["n"] == 2 * 200
    assert isinstance(result["goal_met"], bool)
