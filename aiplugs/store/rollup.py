"""One plugin's metrics over a stretch of time, as plain mergeable values: what the history stores per minute and
what every longer window is made of.

Every field of a :class:`Rollup` is a sum, a maximum or histogram bucket counts, so ``a + b`` is exact: twelve
five-second samples make a minute, sixty minutes an hour, and the p95 of that hour comes from its merged buckets,
not from averaging per-minute p95s. Averages, rates, percentages and quantiles are derived only at the end, by
:meth:`Rollup.summary`, whose keys are the vocabulary of the history API (``/api/metrics/{plugin}``,
``MetricsHistory.series`` / ``.window``, ``aiplugs top``, the notebook).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..util.histogram import LATENCY_BOUNDS, add_counts, quantile

__all__ = ["ERROR_KINDS", "LATENCY_BOUNDS", "Rollup", "error_key", "merge_all"]

# How a call can fail; an "exception" is keyed with the backend's exception type: "exception:ValueError".
ERROR_KINDS = ("exception", "timeout", "worker_died", "unavailable", "cancelled")


def error_key(kind: str, type_name: str = "") -> str:
    return f"{kind}:{type_name}" if kind == "exception" and type_name else kind


@dataclass(frozen=True)
class Rollup:
    """What one plugin's local workers did during ``span_s`` seconds starting in minute ``minute`` (unix seconds,
    a multiple of 60 — or of the series step, once merged), from ``samples`` samples of the daemon.

    Calls count every call that ended in the span (answered or failed, including those that found no worker);
    latency is dispatch → last answer frame, the wait for a ready worker included. CPU % is of the worker process
    trees (100 = one core busy, as ``top`` and ``docker stats`` count), RSS their resident bytes, both summed over
    the plugin's workers at each sample."""

    plugin: str
    minute: int
    samples: int = 0
    span_s: float = 0.0
    workers_sum: float = 0.0  # ready workers at each sample, summed (average: / samples)
    workers_max: int = 0
    cpu_pct_sum: float = 0.0  # per sample: CPU % of all the plugin's worker trees over the last interval
    cpu_pct_max: float = 0.0
    rss_sum: float = 0.0  # per sample: resident bytes of all its worker trees
    rss_max: int = 0
    calls: int = 0
    errors: tuple[tuple[str, int], ...] = ()  # sorted (error_key, count)
    latency: tuple[int, ...] = ()  # counts per LATENCY_BOUNDS bucket
    latency_sum: float = 0.0
    wait: tuple[int, ...] = ()  # time waiting for a ready worker, counts per LATENCY_BOUNDS bucket
    wait_sum: float = 0.0
    inflight_s: float = 0.0  # calls in flight integrated over time (average in flight: / span_s)
    inflight_max: int = 0  # the most calls in flight at once
    busy_s: float = 0.0  # worker-seconds with at least one call in flight
    contended: int = 0  # calls that found every ready worker already serving another call
    restarts: int = 0
    starts: int = 0  # workers that became ready
    startup_s_sum: float = 0.0  # spawn → ready (backend imported, init ran, models loaded): a proxy for load time
    startup_s_max: float = 0.0

    def __add__(self, other: Rollup) -> Rollup:
        """Both of them: sums add, maxima take the larger, buckets add; plugin and minute are ``self``'s."""
        errors: dict[str, int] = dict(self.errors)
        for key, count in other.errors:
            errors[key] = errors.get(key, 0) + count
        return Rollup(
            self.plugin, self.minute, self.samples + other.samples, self.span_s + other.span_s,
            self.workers_sum + other.workers_sum, max(self.workers_max, other.workers_max),
            self.cpu_pct_sum + other.cpu_pct_sum, max(self.cpu_pct_max, other.cpu_pct_max),
            self.rss_sum + other.rss_sum, max(self.rss_max, other.rss_max),
            self.calls + other.calls, tuple(sorted(errors.items())),
            add_counts(self.latency, other.latency), self.latency_sum + other.latency_sum,
            add_counts(self.wait, other.wait), self.wait_sum + other.wait_sum,
            self.inflight_s + other.inflight_s, max(self.inflight_max, other.inflight_max),
            self.busy_s + other.busy_s, self.contended + other.contended, self.restarts + other.restarts,
            self.starts + other.starts, self.startup_s_sum + other.startup_s_sum,
            max(self.startup_s_max, other.startup_s_max))

    def at(self, minute: int) -> Rollup:
        return dataclasses.replace(self, minute=minute)

    @property
    def error_count(self) -> int:
        return sum(count for _, count in self.errors)

    def summary(self) -> dict[str, Any]:
        """The derived view (JSON-ready); None where nothing was measured (no samples, no calls).

        ``time`` start (unix s) · ``samples``, ``span_s`` what it is made of · ``workers`` (mean ready),
        ``workers_max`` · ``cpu_pct`` (mean, all workers; 100 = one core), ``cpu_pct_max``, ``cpu_pct_per_worker``
        · ``rss_bytes`` (mean, all workers), ``rss_max_bytes``, ``rss_per_worker_bytes`` · ``calls``, ``rps`` ·
        ``errors``, ``error_pct``, ``errors_by`` ({error key: count}) · ``p50_ms``, ``p95_ms``, ``p99_ms``,
        ``mean_ms`` (call latency) · ``wait_ms`` (mean wait for a ready worker), ``wait_p95_ms`` · ``inflight``
        (mean calls in flight), ``inflight_max`` · ``utilization`` (0..1: share of worker time with a call in
        flight) · ``contended``, ``contended_pct`` (calls that found every worker busy) · ``restarts``,
        ``starts``, ``startup_s`` (mean spawn → ready), ``startup_s_max``."""
        samples, span, calls = self.samples, self.span_s, self.calls
        workers = self.workers_sum / samples if samples else None
        errors = self.error_count
        latency = self.latency
        waits = sum(self.wait)
        return {
            "time": self.minute, "samples": samples, "span_s": round(span, 3),
            "workers": _round(workers, 2), "workers_max": self.workers_max,
            "cpu_pct": _round(self.cpu_pct_sum / samples if samples else None, 2),
            "cpu_pct_max": round(self.cpu_pct_max, 2),
            "cpu_pct_per_worker": _round(self.cpu_pct_sum / self.workers_sum if self.workers_sum else None, 2),
            "rss_bytes": int(self.rss_sum / samples) if samples else None, "rss_max_bytes": self.rss_max,
            "rss_per_worker_bytes": int(self.rss_sum / self.workers_sum) if self.workers_sum else None,
            "calls": calls, "rps": _round(calls / span if span else None, 3),
            "errors": errors, "error_pct": _round(100.0 * errors / calls if calls else None, 2),
            "errors_by": dict(self.errors),
            "p50_ms": _ms(quantile(LATENCY_BOUNDS, latency, 0.50)),
            "p95_ms": _ms(quantile(LATENCY_BOUNDS, latency, 0.95)),
            "p99_ms": _ms(quantile(LATENCY_BOUNDS, latency, 0.99)),
            "mean_ms": _ms(self.latency_sum / sum(latency) if sum(latency) else None),
            "wait_ms": _ms(self.wait_sum / waits if waits else None),
            "wait_p95_ms": _ms(quantile(LATENCY_BOUNDS, self.wait, 0.95)),
            "inflight": _round(self.inflight_s / span if span else None, 3), "inflight_max": self.inflight_max,
            "utilization": _round(self.busy_s / (span * workers) if span and workers else None, 3),
            "contended": self.contended,
            "contended_pct": _round(100.0 * self.contended / calls if calls else None, 2),
            "restarts": self.restarts, "starts": self.starts,
            "startup_s": _round(self.startup_s_sum / self.starts if self.starts else None, 3),
            "startup_s_max": round(self.startup_s_max, 3),
        }

    def to_row(self) -> dict[str, Any]:
        """Plain values for storage: buckets and errors as compact text."""
        row = dataclasses.asdict(self)
        row["errors"] = ",".join(f"{k}={n}" for k, n in self.errors)
        row["latency"] = _counts_text(self.latency)
        row["wait"] = _counts_text(self.wait)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rollup:
        values = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row.keys()}
        values["errors"] = tuple(sorted((k, int(n)) for k, _, n in (
            part.rpartition("=") for part in (row["errors"] or "").split(",") if part)))
        values["latency"] = _counts(row["latency"])
        values["wait"] = _counts(row["wait"])
        return cls(**values)


def merge_all(rollups: Iterable[Rollup], plugin: str, minute: int) -> Rollup:
    """The sum of ``rollups`` (an empty one when there are none), dated ``minute``."""
    total = Rollup(plugin, minute)
    for rollup in rollups:
        total = total + rollup
    return total


def _counts_text(counts: tuple[int, ...]) -> str:
    trimmed = list(counts)
    while trimmed and trimmed[-1] == 0:  # most calls land in the low buckets
        trimmed.pop()
    return ",".join(map(str, trimmed))


def _counts(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    values = [int(v) for v in text.split(",")]
    return tuple(values + [0] * (len(LATENCY_BOUNDS) + 1 - len(values)))


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
