"""Call counters on plain values and a fake clock: in-flight time, busy time, contention, peaks, error keys."""

from __future__ import annotations

import asyncio

from aiplugs.adapters.workers import BackendError, WorkerGone, WorkerTimeout, WorkerUnavailable
from aiplugs.adapters.workers.callstats import MAX_ERROR_KEYS, NULL_STATS, CallCounts, CallStats, failure_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_in_flight_and_busy_time_are_integrated_over_time() -> None:
    clock = Clock()
    stats = CallStats(clock)
    assert stats.began(0) is False  # worker A idle → busy
    clock.now += 1.0
    assert stats.began(1) is True  # the same worker again: contended
    clock.now += 2.0
    assert stats.snapshot().contended == 0  # counted when the call ends, with calls
    stats.ended(3.0, 1, contended=True)  # A still has one call
    clock.now += 1.0
    stats.ended(3.0, 0)
    counts = stats.snapshot()
    assert counts.inflight_s == 1.0 * 1 + 2.0 * 2 + 1.0 * 1  # 6 call-seconds
    assert counts.busy_s == 4.0  # A was busy the whole 4 s
    assert (counts.calls, counts.contended, counts.inflight, counts.inflight_peak) == (2, 1, 0, 2)
    assert sum(counts.latency) == 2 and counts.latency_sum == 6.0


def test_the_peak_starts_again_when_the_collector_says_so() -> None:
    stats = CallStats(Clock())
    for _ in range(3):
        stats.began(0)
    stats.ended(0.1, 0)
    assert stats.snapshot(reset_peak=True).inflight_peak == 3
    assert stats.snapshot().inflight_peak == 2  # what is still in flight


def test_errors_are_keyed_by_kind_with_a_bounded_set_of_types() -> None:
    stats = CallStats(Clock())
    for n in range(MAX_ERROR_KEYS + 5):
        stats.finished(0.01, f"exception:Error{n}")
    stats.finished(0.01, "exception:Error0")
    errors = dict(stats.snapshot().errors)
    assert len(errors) == MAX_ERROR_KEYS + 1 and errors["exception:other"] == 5 and errors["exception:Error0"] == 2


def test_failures_map_to_their_kind() -> None:
    assert failure_key(BackendError("p", "KeyError", "x")) == "exception:KeyError"
    assert failure_key(WorkerTimeout("slow")) == "timeout"
    assert failure_key(WorkerGone("gone")) == "worker_died"
    assert failure_key(WorkerUnavailable("none")) == "unavailable"
    assert failure_key(asyncio.CancelledError()) == "cancelled"
    assert failure_key(GeneratorExit()) == "cancelled"
    assert failure_key(TypeError("not JSON")) == "exception:TypeError"


def test_ending_a_call_that_began_before_collection_was_on_never_goes_negative() -> None:
    stats = CallStats(Clock())
    stats.ended(0.5, 0)
    counts = stats.snapshot()
    assert (counts.inflight, counts.calls) == (0, 1)


def test_the_null_stats_count_nothing() -> None:
    NULL_STATS.began(0)
    NULL_STATS.ended(1.0, 0, "timeout")
    NULL_STATS.started(2.0)
    assert NULL_STATS.snapshot() == CallCounts()
