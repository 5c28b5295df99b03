"""A fake clock and a load model that turn "this much demand on this many workers" into the samples the metrics
history would hold, so the rules and the autoscaler can be driven through hours of simulated time in a test."""

from __future__ import annotations

from typing import Any, Callable

from aiplugs.declaration.autotune import AutotuneConfig
from aiplugs.plan.autotune import Memory, PluginView, Sample, Suggestion, autoscale, suggest

T0 = 1_700_000_000.0  # a minute boundary (divisible by 60)


def sample(minute: int, **fields: Any) -> Sample:
    """One minute of history, ``minute`` minutes after T0."""
    return Sample(time=T0 + 60 * minute, span_s=60.0, **fields)


def loaded(minute: int, demand: float, workers: int, calls_per_worker_s: float = 10.0, **extra: Any) -> Sample:
    """A minute in which ``demand`` worker-units of work arrived at ``workers`` workers: each worker is busy
    ``demand / workers`` of the time (at most all of it), the calls beyond that find every worker busy."""
    per = demand / workers if workers else 0.0
    busy = min(1.0, per)
    calls = int(demand * calls_per_worker_s * 60)
    contended = 0.0 if per <= 0.7 else min(100.0, 100.0 * (per - 0.7) / per + 20)
    fields: dict[str, Any] = dict(calls=calls, utilization=busy, contended_pct=contended, inflight=demand,
                                  workers=float(workers), cpu_pct=100.0 * busy * workers * 0.5,
                                  p50_ms=50.0, p95_ms=80.0 * max(1.0, per), p99_ms=100.0 * max(1.0, per),
                                  rss_bytes=100 * 2**20)
    fields.update(extra)
    return sample(minute, **fields)


class Clock:
    """Now, moved by hand."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fast(**overrides: Any) -> AutotuneConfig:
    """The documented defaults, with ``overrides``."""
    return AutotuneConfig(**overrides)


def simulate(minutes: int, demand: Callable[[int], float], view: PluginView, cfg: AutotuneConfig, *,
             apply_suggestions: bool = False) -> tuple[list[tuple[int, tuple[Suggestion, ...]]], list[tuple[int, int]]]:
    """Runs the engine once per simulated minute on the history so far. A ranged ``view`` is autoscaled; with
    ``apply_suggestions`` a fixed one takes each worker suggestion as a person accepting it would. Returns the
    suggestions seen per minute and each change of the worker count as (minute, count)."""
    history: list[Sample] = []
    memory = Memory()
    count = view.running
    seen: list[tuple[int, tuple[Suggestion, ...]]] = []
    changes: list[tuple[int, int]] = []
    for minute in range(minutes):
        history.append(loaded(minute, demand(minute), count))
        now = T0 + 60 * (minute + 1)
        current = PluginView(view.plugin, view.workers if view.ranged else count, count, view.timeout_s,
                             view.max_calls_per_worker, view.cache_ttl_s)
        found = suggest([current], {view.plugin: history}, now, cfg, memory)
        seen.append((minute, found))
        new = count
        if view.ranged:
            new = autoscale([current], {view.plugin: history}, now, cfg, memory)[view.plugin].count
        elif apply_suggestions:
            for s in found:
                if s.change is not None and s.change.setting == "workers":
                    new = s.change.new
        if new != count:
            count = new
            changes.append((minute, count))
            memory = Memory({**memory.changed, (view.plugin, "workers"): now}, memory.rejected)
    return seen, changes
