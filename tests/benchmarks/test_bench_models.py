"""bench_models' verdict on plain runs: medians, the two ratios and every goal (the suite itself runs end to end in
test_suites.py, from CI's report)."""

from __future__ import annotations

from benchmarks.bench_models import GOALS, digest

MIB = 1 << 20


def _runs(aiplugs_s: float, minimal_s: float = 1.0, pooch_s: float = 3.0, rss: float = 60.0) -> dict:
    one = lambda s: [{"seconds": s, "peak_rss_mb": rss}, {"seconds": s * 1.5, "peak_rss_mb": rss - 1}]  # noqa: E731
    return {"minimal": one(minimal_s), "pooch": one(pooch_s), "aiplugs": one(aiplugs_s)}


def _digest(runs: dict, fetches: int = 1, same_path: bool = True, hit_s: float = 0.0001) -> dict:
    return digest(runs, 256 * MIB, 2, {"fetches": fetches}, {"fetches": 1, "same_path": same_path,
                                                               "cache_hit_s": [hit_s] * 10}, quick=True)


def test_ratios_come_from_medians_of_whole_process_runs() -> None:
    result = _digest(_runs(aiplugs_s=1.05))
    assert result["minimal"]["mib_per_s"] == 256 / 1.25  # median of 1.0 and 1.5
    assert round(result["ratio_vs_minimal"], 6) == round(1.0 / 1.05, 6)
    assert round(result["ratio_vs_pooch"], 6) == round(3.0 / 1.05, 6)
    assert result["peak_rss_mb"] == 60.0 and result["goals"] == GOALS
    assert result["goal_met"] is True


def test_each_goal_alone_fails_the_verdict() -> None:
    assert _digest(_runs(aiplugs_s=1.2))["goal_met"] is False  # 0.83x the minimal download
    assert _digest(_runs(aiplugs_s=1.0, pooch_s=1.4))["goal_met"] is False  # 1.4x pooch
    assert _digest(_runs(aiplugs_s=1.0, rss=150))["goal_met"] is False  # peak RSS over 100 MB
    assert _digest(_runs(aiplugs_s=1.0), fetches=2)["goal_met"] is False  # 16 pulls, two origin fetches
    assert _digest(_runs(aiplugs_s=1.0), same_path=False)["goal_met"] is False
    assert _digest(_runs(aiplugs_s=1.0), hit_s=0.01)["goal_met"] is False  # a 10 ms cache hit
