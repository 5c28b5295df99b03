"""``aiplugs top``'s rows from two ``/api/top`` answers, on plain values."""

from __future__ import annotations

from aiplugs.client.top import top_report, top_rows
from aiplugs.util.histogram import LATENCY_BOUNDS

EMPTY = [0] * (len(LATENCY_BOUNDS) + 1)


def answer(clock: float, calls: int, fast: int, slow: int, *, errors: int = 0, cpu: float = 1.0, pid: int = 7,
           wait_sum: float = 0.0, inflight: int = 0) -> dict:
    latency = list(EMPTY)
    latency[3], latency[10] = fast, slow  # (2.5 ms, 5 ms] and (0.5 s, 1 s]
    return {"clock": clock, "time": 1000.0 + clock, "bounds": list(LATENCY_BOUNDS), "plugins": [
        {"id": "echo", "ready": 1, "calls": calls, "errors": {"timeout": errors} if errors else {},
         "latency": latency, "wait": [calls] + EMPTY[1:], "wait_sum": wait_sum, "rss_bytes": 50 << 20,
         "workers": [{"index": 0, "pid": pid, "inflight": inflight, "cpu_s": cpu}]},
        {"id": "lazy", "ready": 0, "workers": []}]}


def test_rates_come_from_the_difference_of_two_answers() -> None:
    before = answer(10.0, calls=100, fast=100, slow=0, cpu=1.0)
    after = answer(12.0, calls=140, fast=130, slow=10, errors=4, cpu=1.5, wait_sum=0.04, inflight=2)
    echo, lazy = top_rows(before, after)
    assert (echo["id"], echo["workers"], echo["slots"], echo["calls"], echo["rps"]) == ("echo", 1, 1, 40, 20.0)
    assert echo["cpu_pct"] == 25.0 and echo["rss_bytes"] == 50 << 20 and echo["inflight"] == 2
    assert echo["error_pct"] == 10.0 and echo["errors"] == 4
    assert 2.5 < echo["p50_ms"] <= 5.0 and 500 < echo["p95_ms"] <= 1000
    assert echo["wait_ms"] == 1.0
    assert (lazy["workers"], lazy["slots"], lazy["rps"]) == (0, 0, 0.0)


def test_a_new_worker_or_pool_counts_from_zero() -> None:
    before = answer(0.0, calls=500, fast=500, slow=0, cpu=9.0, pid=7)
    after = answer(1.0, calls=3, fast=3, slow=0, cpu=0.2, pid=8)  # restarted: new pid, counters anew
    (echo, _) = top_rows(before, after)
    assert echo["calls"] == 3 and echo["cpu_pct"] == 20.0


def test_without_a_previous_answer_only_the_present_is_known() -> None:
    report = top_report(None, answer(5.0, calls=10, fast=10, slow=0, inflight=1))
    echo = report["plugins"][0]
    assert report["interval_s"] == 0 and echo["rps"] is None and echo["p50_ms"] is None and echo["inflight"] == 1
