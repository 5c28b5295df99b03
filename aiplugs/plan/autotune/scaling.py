"""How many workers a plugin wants: one decision for the scale suggestions and for the autoscaler of plugins with
``workers = {min, max}``, so both act on the same signals with the same anti-flap rules.

Up when the workers were hot (busy and contended, CPU-saturated, or calls waiting for a ready worker) in most
samples (``sustained``) of the scale-up window; down only when every sample of the whole stabilisation window
was cold. Either way the new count is the one that brings the window's load to ``target_utilization`` — the
peak load for a scale-down, so it never removes capacity the window needed — and because the target lies
between the two thresholds, a step can never set off the opposite step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

from ...declaration.autotune import AutotuneConfig
from .samples import Sample, stats, window
from .suggestion import Evidence, Threshold

__all__ = ["ScaleDecision", "decide_count"]

Direction = Literal["up", "down", "hold"]


@dataclass(frozen=True)
class ScaleDecision:
    count: int
    direction: Direction
    reason: str  # "hold" decisions say why not, too: status shows it
    evidence: Evidence | None = None


def _hot(sample: Sample, cfg: AutotuneConfig) -> list[str]:
    """The scale-up signals this sample shows (empty: none)."""
    signals = []
    busy = sample.utilization is not None and sample.utilization >= cfg.scale_up_utilization
    if busy and sample.contended_pct is not None and sample.contended_pct >= cfg.scale_up_contended_pct:
        signals.append("contended")
    if sample.calls and sample.cpu_per_worker is not None and sample.cpu_per_worker >= cfg.scale_up_cpu_pct:
        signals.append("cpu")
    if sample.wait_p95_ms is not None and sample.wait_p95_ms >= cfg.scale_up_wait_ms:
        signals.append("wait")
    return signals


def _cold(sample: Sample, cfg: AutotuneConfig) -> bool:
    if _hot(sample, cfg):
        return False
    return sample.calls == 0 or (sample.load is not None and sample.load <= cfg.scale_down_utilization)


def decide_count(samples: Sequence[Sample], now: float, current: int, low: int, high: int, cfg: AutotuneConfig,
                 since: float | None = None) -> ScaleDecision:
    """The count for a plugin running ``current`` workers, within ``[low, high]``; ``since``: when its worker
    count last changed (older samples do not count)."""
    recent = window(samples, now, cfg.scale_up_window_s, since)
    hot = [s for s in recent if _hot(s, cfg)]
    if len(recent) >= cfg.min_samples and len(hot) >= math.ceil(cfg.sustained * len(recent)):
        loads = [s.load for s in hot if s.load is not None]
        demand = sum(loads) / len(loads) if loads else 1.0
        wanted = max(current + 1, math.ceil(current * demand / cfg.target_utilization - 1e-9))
        wanted = min(wanted, current * 2, high)  # at most double per step: the next window shows the rest
        evidence = _evidence(recent, now, cfg.scale_up_window_s, _up_thresholds(recent, hot, cfg),
                             demand=round(demand, 3), workers=current)
        if wanted <= current:
            return ScaleDecision(current, "hold", f"hot, but already at the most workers allowed ({high})", evidence)
        return ScaleDecision(wanted, "up", f"load {demand:.2f} per worker in {len(hot)} of {len(recent)} samples "
                                           f"(target {cfg.target_utilization:g})", evidence)
    if current <= low:
        return ScaleDecision(current, "hold", "at the fewest workers allowed")
    calm = window(samples, now, cfg.scale_down_window_s, since)
    covered = min(calm[-1].end, now) - calm[0].time if calm else 0.0
    if len(calm) < cfg.min_samples or covered < cfg.scale_down_window_s - 1e-6:  # the whole window
        return ScaleDecision(current, "hold", f"not enough samples yet ({len(calm)} over {covered:.0f}s)")
    if not all(_cold(s, cfg) for s in calm):
        return ScaleDecision(current, "hold", "load within the target band")
    peak = max((s.load or 0.0) for s in calm)
    wanted = max(low, 1, math.ceil(current * peak / cfg.target_utilization - 1e-9))
    if wanted >= current:
        return ScaleDecision(current, "hold", "idle, but fewer workers would exceed the target load")
    threshold = Threshold("load per worker", "<=", cfg.scale_down_utilization, peak, len(calm))
    evidence = _evidence(calm, now, cfg.scale_down_window_s, (threshold,), peak_load=round(peak, 3),
                         workers=current)
    return ScaleDecision(wanted, "down", f"idle for {covered:.0f}s: peak load {peak:.2f} per worker", evidence)


def _up_thresholds(recent: list[Sample], hot: list[Sample], cfg: AutotuneConfig) -> tuple[Threshold, ...]:
    found = []
    figures = stats(recent)
    for signal, metric, limit, value in (
        ("contended", "contended calls %", cfg.scale_up_contended_pct, figures.contended_pct),
        ("cpu", "CPU % per worker", cfg.scale_up_cpu_pct, figures.cpu_per_worker),
        ("wait", "wait p95 ms", cfg.scale_up_wait_ms, max((s.wait_p95_ms or 0.0) for s in recent)),
    ):
        over = sum(1 for s in hot if signal in _hot(s, cfg))
        if over:
            found.append(Threshold(metric, ">=", limit, value or 0.0, over))
    if any("contended" in _hot(s, cfg) for s in hot):
        found.insert(0, Threshold("utilization", ">=", cfg.scale_up_utilization, figures.utilization or 0.0,
                                  sum(1 for s in hot if "contended" in _hot(s, cfg))))
    return tuple(found)


def _evidence(samples: list[Sample], now: float, window_s: float, thresholds: tuple[Threshold, ...],
              **numbers: object) -> Evidence:
    figures = stats(samples)
    return Evidence(window_s, len(samples), samples[0].time, min(samples[-1].end, now), thresholds,
                    tuple(sorted({**figures.to_dict(), **numbers}.items())))
