"""Fixed-bucket histograms as plain counts: cheap to fill on a call path, exact to add and subtract, so one-minute
rollups merge into any longer window and the quantiles of the merge are right (quantiles of quantiles are not).

``counts[i]`` holds the values ``bounds[i-1] < x <= bounds[i]`` (Prometheus' ``le`` buckets, not cumulative);
the last count is everything above the highest bound. ``quantile`` interpolates linearly inside a bucket, as
Prometheus' ``histogram_quantile`` does, so its answer is within one bucket of the truth.
"""

from __future__ import annotations

import bisect
from typing import Sequence

__all__ = ["LATENCY_BOUNDS", "Histogram", "add_counts", "cumulative", "quantile", "sub_counts"]

# Seconds. Finer than prometheus_client's defaults at the low end: a local call answers in well under 5 ms.
LATENCY_BOUNDS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                                     10.0, 30.0, 60.0, 120.0, 300.0)


class Histogram:
    """Counts of observations per bucket of ``bounds``, their sum and the largest one."""

    __slots__ = ("bounds", "counts", "sum", "max")

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.max = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        if value > self.max:
            self.max = value

    @property
    def count(self) -> int:
        return sum(self.counts)


def add_counts(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    """Bucket-wise sum; an empty side counts as zeros."""
    if not a:
        return tuple(b)
    if not b:
        return tuple(a)
    return tuple(x + y for x, y in zip(a, b, strict=True))


def sub_counts(new: Sequence[int], old: Sequence[int]) -> tuple[int, ...]:
    """What ``new`` holds beyond ``old``; when some bucket went down the counts were reset (a new pool), so all of
    ``new`` is new."""
    if not old or len(old) != len(new) or any(n < o for n, o in zip(new, old)):
        return tuple(new)
    return tuple(n - o for n, o in zip(new, old))


def cumulative(counts: Sequence[int]) -> list[int]:
    """Prometheus' ``le`` bucket values."""
    total, out = 0, []
    for count in counts:
        total += count
        out.append(total)
    return out


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The ``q``-quantile (0..1) of the observations, None when there are none. Values in the overflow bucket
    are reported as the highest bound (nothing more is known about them)."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            low = bounds[i - 1] if i > 0 else 0.0
            return low + (bounds[i] - low) * max(rank - seen, 0.0) / count
        seen += count
    return float(bounds[-1])
