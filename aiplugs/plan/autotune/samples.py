"""The rules' input: what one plugin did per stretch of time, as plain values, and the window arithmetic on it.

A :class:`Sample` is one row of the metrics history (a minute, or the part of the current minute measured so far)
seen through the history's own vocabulary (``Rollup.summary()`` keys), plus the identical-payload repeats the
router counts. Nothing here knows where samples come from, so the rules run on synthetic data in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["Sample", "Stats", "fit_line", "stats", "window"]


@dataclass(frozen=True)
class Sample:
    """One plugin in the slot of ``period_s`` seconds starting at ``time`` (unix seconds; a minute row of the
    history), measured for ``span_s`` of them (less in the current minute, or one the daemon started in). CPU % is
    of all its workers together (100 = one core); RSS is per worker; utilization is the share of worker-seconds
    with a call in flight; ``contended_pct`` the share of calls that found every worker busy. None: not measured."""

    time: float
    span_s: float = 60.0
    calls: int = 0
    errors: tuple[tuple[str, int], ...] = ()  # (error key, count): "timeout", "exception:ValueError", ...
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    cpu_pct: float | None = None
    rss_bytes: float | None = None
    wait_p95_ms: float | None = None
    inflight: float | None = None
    utilization: float | None = None
    contended_pct: float | None = None
    workers: float | None = None
    repeats: int = 0  # calls whose (tool, payload) had been seen shortly before
    period_s: float = 60.0

    @property
    def end(self) -> float:
        """The end of its slot: a row's data may lie anywhere in it (the current minute: up to now)."""
        return self.time + self.period_s

    @property
    def error_count(self) -> int:
        return sum(count for _, count in self.errors)

    @property
    def cpu_per_worker(self) -> float | None:
        if self.cpu_pct is None or not self.workers:
            return None
        return self.cpu_pct / self.workers

    @property
    def load(self) -> float | None:
        """Demand per worker in workers: busy share, CPU share or calls in flight per worker, the highest (a
        saturated worker reads 1.0 busy however long the queue; in-flight counts the queue)."""
        values = [self.utilization, self.cpu_per_worker / 100 if self.cpu_per_worker is not None else None,
                  self.inflight / self.workers if self.inflight is not None and self.workers else None]
        known = [v for v in values if v is not None]
        return max(known) if known else None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], repeats: int = 0) -> Sample:
        """A sample from one ``Rollup.summary()`` of the metrics history."""
        errors = summary.get("errors_by") or {}
        return cls(
            time=float(summary["time"]), span_s=float(summary.get("span_s") or 60.0),
            calls=int(summary.get("calls") or 0), errors=tuple(sorted((str(k), int(v)) for k, v in errors.items())),
            p50_ms=summary.get("p50_ms"), p95_ms=summary.get("p95_ms"), p99_ms=summary.get("p99_ms"),
            cpu_pct=summary.get("cpu_pct"), rss_bytes=summary.get("rss_per_worker_bytes"),
            wait_p95_ms=summary.get("wait_p95_ms"), inflight=summary.get("inflight"),
            utilization=summary.get("utilization"), contended_pct=summary.get("contended_pct"),
            workers=summary.get("workers"), repeats=repeats)


def window(samples: Iterable[Sample], now: float, seconds: float, since: float | None = None) -> list[Sample]:
    """The samples whose slot overlaps the last ``seconds`` before ``now`` (and began at or after ``since``: what
    was measured before a setting changed says nothing about the new setting), oldest first."""
    start = now - seconds
    chosen = [s for s in samples if start < s.end and s.time < now and (since is None or s.time >= since)]
    return sorted(chosen, key=lambda s: s.time)


@dataclass(frozen=True)
class Stats:
    """A window summed up: what evidence shows and verdicts compare."""

    samples: int
    span_s: float
    calls: int
    errors: int
    error_pct: float | None
    errors_by: tuple[tuple[str, int], ...]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    utilization: float | None
    contended_pct: float | None
    cpu_per_worker: float | None
    rss_bytes: float | None
    workers: float | None
    repeats: int

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "span_s": round(self.span_s, 3), "calls": self.calls, "errors": self.errors,
                "error_pct": _r(self.error_pct), "errors_by": dict(self.errors_by), "p50_ms": _r(self.p50_ms),
                "p95_ms": _r(self.p95_ms), "p99_ms": _r(self.p99_ms), "utilization": _r(self.utilization, 3),
                "contended_pct": _r(self.contended_pct), "cpu_per_worker": _r(self.cpu_per_worker),
                "rss_bytes": None if self.rss_bytes is None else int(self.rss_bytes),
                "workers": _r(self.workers), "repeats": self.repeats}


def stats(samples: Sequence[Sample]) -> Stats:
    """Counts add up; latency quantiles and rates are call-weighted means of the samples' (the history keeps
    buckets per minute; across minutes a weighted mean is what the rules need: which way things moved)."""
    calls = sum(s.calls for s in samples)
    errors_by: dict[str, int] = {}
    for s in samples:
        for key, count in s.errors:
            errors_by[key] = errors_by.get(key, 0) + count
    errors = sum(errors_by.values())
    return Stats(
        samples=len(samples), span_s=sum(s.span_s for s in samples), calls=calls, errors=errors,
        error_pct=100.0 * errors / calls if calls else None,
        errors_by=tuple(sorted(errors_by.items(), key=lambda kv: (-kv[1], kv[0]))),
        p50_ms=_mean(samples, "p50_ms", by_calls=True), p95_ms=_mean(samples, "p95_ms", by_calls=True),
        p99_ms=_mean(samples, "p99_ms", by_calls=True), utilization=_mean(samples, "utilization"),
        contended_pct=_mean(samples, "contended_pct", by_calls=True), cpu_per_worker=_mean(samples, "cpu_per_worker"),
        rss_bytes=_mean(samples, "rss_bytes"), workers=_mean(samples, "workers"),
        repeats=sum(s.repeats for s in samples))


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least squares ``y = a + b x``: (a, b, R²); None for fewer than two distinct x. R² is 0 for a flat line."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in points)
    syy = sum((y - my) ** 2 for _, y in points)
    slope = sxy / sxx
    r2 = (sxy * sxy) / (sxx * syy) if syy else 0.0
    return my - slope * mx, slope, r2


def _mean(samples: Sequence[Sample], name: str, by_calls: bool = False) -> float | None:
    pairs = [(getattr(s, name), s.calls if by_calls else 1) for s in samples]
    pairs = [(v, w) for v, w in pairs if v is not None and w > 0 and not math.isnan(v)]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)
