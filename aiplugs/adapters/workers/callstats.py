"""Counters of one plugin's calls, kept by its pool on the call path: calls, errors by kind, latency and wait
histograms, calls in flight integrated over time, and how long its workers took to become ready.

Plain ints and floats updated from the event loop (no locks: one loop owns the pool), a few hundred nanoseconds
per call; readers (``/metrics`` at scrape time, the daemon's collector every few seconds) take a
:class:`CallCounts` snapshot and subtract the previous one. With collection off (``[metrics] enabled = false``)
a pool holds :data:`NULL_STATS`, which counts nothing.

Terms:
  wait       time a call spent in ``Pool.acquire`` waiting for a ready worker (none ready: starting, restarting).
             A worker serves several calls at once (sync code on threads), so a call never waits for a busy
             worker to finish; that pressure shows as ``contended`` and ``inflight`` instead.
  contended  calls sent to a worker that was already serving another call: with least-busy dispatch, every
             ready worker was busy. Counted when the call ends, like ``calls``, so a window's contended calls
             are a share of that window's calls (never over 100 %).
  busy_s     worker-seconds with at least one call in flight (utilization = its rate / ready workers).
  startup    spawn → ready: the backend imported, its init hook ran (where models usually load) and it answered a
             ping; the model-load time a person can act on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ...store.rollup import error_key
from ...util.histogram import Histogram
from .errors import BackendError, WorkerGone, WorkerTimeout, WorkerUnavailable

__all__ = ["NULL_STATS", "CallCounts", "CallStats", "NullCallStats", "failure_key"]

MAX_ERROR_KEYS = 32  # distinct error keys per plugin; more exception types than that count as "exception:other"


def failure_key(error: BaseException | None) -> str:
    """The error key of a failed call (``store.rollup.ERROR_KINDS``; exceptions with their type)."""
    if isinstance(error, BackendError):
        return error_key("exception", error.type_name)
    if isinstance(error, WorkerTimeout):
        return "timeout"
    if isinstance(error, WorkerGone):
        return "worker_died"
    if isinstance(error, WorkerUnavailable):
        return "unavailable"
    if error is None or not isinstance(error, Exception):  # CancelledError, GeneratorExit: the caller left
        return "cancelled"
    return error_key("exception", type(error).__name__)


@dataclass(frozen=True)
class CallCounts:
    """A snapshot of :class:`CallStats`; every field but ``inflight`` and ``inflight_peak`` only grows."""

    calls: int = 0
    errors: tuple[tuple[str, int], ...] = ()
    latency: tuple[int, ...] = ()
    latency_sum: float = 0.0
    wait: tuple[int, ...] = ()
    wait_sum: float = 0.0
    inflight: int = 0
    inflight_peak: int = 0  # the most in flight at once since the last ``reset_peak``
    inflight_s: float = 0.0
    busy_s: float = 0.0
    contended: int = 0
    starts: int = 0
    startup_s_sum: float = 0.0
    startup_s_max: float = 0.0


class CallStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.calls = 0
        self.errors: dict[str, int] = {}
        self.latency = Histogram()
        self.wait = Histogram()
        self.inflight = 0
        self.busy = 0  # workers with a call in flight
        self.peak = 0
        self.inflight_s = 0.0
        self.busy_s = 0.0
        self.contended = 0
        self.starts = 0
        self.startup_s_sum = 0.0
        self.startup_s_max = 0.0
        self._at = clock()

    def _advance(self, now: float) -> None:
        elapsed = now - self._at
        if elapsed > 0:
            self.inflight_s += self.inflight * elapsed
            self.busy_s += self.busy * elapsed
            self._at = now

    def waited(self, seconds: float) -> None:
        self.wait.observe(seconds)

    def began(self, outstanding: int) -> bool:
        """A call went to a worker that had ``outstanding`` calls in flight before it; whether it was contended
        (for ``ended``)."""
        self._advance(self.clock())
        self.inflight += 1
        if outstanding == 0:
            self.busy += 1
        if self.inflight > self.peak:
            self.peak = self.inflight
        return outstanding > 0

    def ended(self, seconds: float, outstanding: int, error: str | None = None, contended: bool = False) -> None:
        """A call that ``began`` (``contended``: what it said) is over after ``seconds``; its worker has
        ``outstanding`` calls left."""
        self._advance(self.clock())
        self.inflight = max(self.inflight - 1, 0)  # never negative: collection may have been switched on mid-call
        if outstanding == 0:
            self.busy = max(self.busy - 1, 0)
        if contended:
            self.contended += 1
        self.finished(seconds, error)

    def finished(self, seconds: float, error: str | None = None) -> None:
        """A call is over (one that never reached a worker goes straight here)."""
        self.calls += 1
        self.latency.observe(seconds)
        if error is not None:
            if error not in self.errors and len(self.errors) >= MAX_ERROR_KEYS:
                error = "exception:other"
            self.errors[error] = self.errors.get(error, 0) + 1

    def started(self, seconds: float) -> None:
        """A worker became ready ``seconds`` after it was spawned."""
        self.starts += 1
        self.startup_s_sum += seconds
        self.startup_s_max = max(self.startup_s_max, seconds)

    def snapshot(self, reset_peak: bool = False) -> CallCounts:
        self._advance(self.clock())
        counts = CallCounts(self.calls, tuple(sorted(self.errors.items())), tuple(self.latency.counts),
                            self.latency.sum, tuple(self.wait.counts), self.wait.sum, self.inflight, self.peak,
                            self.inflight_s, self.busy_s, self.contended, self.starts, self.startup_s_sum,
                            self.startup_s_max)
        if reset_peak:
            self.peak = self.inflight
        return counts


class NullCallStats(CallStats):
    """Collection off: every update is a no-op and every snapshot empty."""

    def __init__(self) -> None:
        super().__init__()

    def waited(self, seconds: float) -> None:
        pass

    def began(self, outstanding: int) -> bool:
        return False

    def ended(self, seconds: float, outstanding: int, error: str | None = None, contended: bool = False) -> None:
        pass

    def finished(self, seconds: float, error: str | None = None) -> None:
        pass

    def started(self, seconds: float) -> None:
        pass

    def snapshot(self, reset_peak: bool = False) -> CallCounts:
        return CallCounts()


NULL_STATS = NullCallStats()
