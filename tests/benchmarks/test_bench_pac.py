"""bench_pac's verdict on plain load times (the suite itself runs end to end in test_suites.py)."""

from __future__ import annotations

from benchmarks.bench_pac import GOAL, digest


def _times(pac: float, all_: float = 120.0) -> dict[str, list[float]]:
    return {"direct": [100.0, 101.0, 99.0], "pac": [pac, pac + 1, pac - 1], "all": [all_, all_ + 2, all_ - 2]}


def test_ratios_are_p50_against_direct_and_the_pac_goal_holds() -> None:
    result = digest(_times(pac=103.0), tunnels_by_pac=0, tunnels_total=20, loads=3)
    assert result["pac_ratio"] == 103.0 / 100.0 and result["all_ratio"] == 120.0 / 100.0
    assert result["goal"] == {"pac_ratio": GOAL} and result["goal_met"] is True


def test_a_slow_pac_or_a_pac_load_through_the_proxy_fails_the_verdict() -> None:
    assert digest(_times(pac=110.0), 0, 20, 3)["goal_met"] is False  # 1.1x direct
    assert digest(_times(pac=100.0), 1, 20, 3)["goal_met"] is False  # the PAC sent it to the proxy
    assert digest(_times(pac=100.0), 0, 0, 3)["goal_met"] is False  # --all never reached the proxy: not measured
