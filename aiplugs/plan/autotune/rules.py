"""The suggestion rules: each looks at one plugin's samples and returns one suggestion or None. Pure.

Every rule needs ``min_samples`` samples in its window, measured after the setting it would change last changed
(``since``); the engine drops what is cooling down, rejected or contradicting. Thresholds are ``[autotune]``'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from ...declaration.autotune import AutotuneConfig
from .samples import Sample, fit_line, stats, window
from .scaling import decide_count
from .suggestion import Change, Confidence, Evidence, Suggestion, Threshold, suggestion_id

__all__ = ["PluginView", "cache_rule", "errors_rule", "memory_rule", "scale_rule", "timeout_rule"]


@dataclass(frozen=True)
class PluginView:
    """What the rules know of one local plugin's declaration and running count."""

    plugin: str
    workers: int | tuple[int, int]  # a fixed count, or (min, max)
    running: int  # workers it runs now (a ranged plugin: the autoscaler's count)
    timeout_s: float = 60.0
    max_calls_per_worker: int | None = None
    cache_ttl_s: float = 0.0
    scaled_elsewhere: bool = False  # a range Ray Serve scales (backend = "ray"): not the daemon's to move

    @property
    def ranged(self) -> bool:
        return not isinstance(self.workers, int)


def scale_rule(view: PluginView, samples: Sequence[Sample], now: float, cfg: AutotuneConfig,
               since: float | None) -> Suggestion | None:
    """A fixed count: up or down. A range is the autoscaler's to move within; a suggestion only raises its max
    when the autoscaler is already there and still hot."""
    if view.scaled_elsewhere:
        return None
    if view.ranged:
        low, high = view.workers  # type: ignore[misc]
        decision = decide_count(samples, now, view.running, low, max(high, cfg.max_workers), cfg, since)
        if decision.direction != "up" or decision.count <= high or view.running < high:
            return None
        change = Change(view.plugin, "workers", {"min": low, "max": high}, {"min": low, "max": decision.count})
        title = f"raise {view.plugin}'s worker range: max {high} → {decision.count}"
    else:
        count = int(view.workers)  # type: ignore[arg-type]
        if count == 0:
            return None  # stopped on purpose
        decision = decide_count(samples, now, count, 1, max(count, cfg.max_workers), cfg, since)
        if decision.direction == "hold":
            return None
        change = Change(view.plugin, "workers", count, decision.count)
        title = f"scale {view.plugin} {decision.direction}: {count} → {decision.count} workers"
    assert decision.evidence is not None
    old = view.running
    if decision.direction == "up":
        demand = dict(decision.evidence.numbers).get("demand", 1.0)
        expected = (f"load per worker {demand:.2f} → about {demand * old / decision.count:.2f}; fewer calls wait "
                    "for a busy worker (lower p95)")
        confidence: Confidence = "high" if decision.evidence.samples >= 2 * cfg.min_samples else "medium"
    else:
        peak = dict(decision.evidence.numbers).get("peak_load", 0.0)
        expected = (f"{old - decision.count} fewer worker process(es) (CPU and memory freed); peak load per worker "
                    f"{peak:.2f} → about {peak * old / decision.count:.2f}, below the target "
                    f"{cfg.target_utilization:g}")
        confidence = "medium"
    rule = "scale-up" if decision.direction == "up" else "scale-down"
    return Suggestion(suggestion_id(rule, view.plugin, change.to_dict()), rule, view.plugin, title,
                      decision.evidence, change, expected, confidence)


def errors_rule(view: PluginView, samples: Sequence[Sample], now: float, cfg: AutotuneConfig,
                signatures: Sequence[tuple[str, int]] = ()) -> Suggestion | None:
    """Investigate: the error rate is over the threshold; names the top error kinds and the top signatures from the
    worker logs. Nothing to apply: errors are fixed in code, not in aiplugs.toml."""
    recent = window(samples, now, cfg.error_window_s)
    figures = stats(recent)
    if len(recent) < cfg.min_samples or figures.calls < cfg.error_min_calls or figures.error_pct is None:
        return None
    if figures.error_pct < cfg.error_pct:
        return None
    over = sum(1 for s in recent if s.calls and 100.0 * s.error_count / s.calls >= cfg.error_pct)
    top = [sig for sig, _ in signatures[:3]]
    kinds = ", ".join(f"{kind} ×{count}" for kind, count in figures.errors_by[:3])
    lead = top[0] if top else (figures.errors_by[0][0] if figures.errors_by else "unknown")
    evidence = Evidence(cfg.error_window_s, len(recent), recent[0].time, min(recent[-1].end, now),
                        (Threshold("error %", ">=", cfg.error_pct, figures.error_pct, over),),
                        tuple(sorted({**figures.to_dict(), "top_signatures": [list(s) for s in signatures[:5]]
                                      }.items())))
    title = f"investigate {view.plugin}'s errors: {figures.error_pct:.1f}% of {figures.calls} calls ({kinds})"
    expected = f"fixing the top error ({lead}) removes most of the failures" if top else \
        "the worker logs (aiplugs logs) show where the errors come from"
    confidence: Confidence = "high" if top and signatures[0][1] >= 0.5 * sum(n for _, n in signatures) else "medium"
    return Suggestion(suggestion_id("errors", view.plugin, lead), "errors", view.plugin, title, evidence, None,
                      expected, confidence)


def memory_rule(view: PluginView, samples: Sequence[Sample], now: float, cfg: AutotuneConfig,
                since: float | None) -> Suggestion | None:
    """RSS per worker rising steadily (a straight-line fit, R² >= ``memory_fit``) by ``memory_growth_pct`` over
    the window while calls arrive: a suspected leak. Proposes recycling a worker after as many calls as it takes
    to grow by half that much."""
    recent = [s for s in window(samples, now, cfg.memory_window_s, since) if s.rss_bytes]
    if len(recent) < max(cfg.min_samples, 3):
        return None
    fit = fit_line([(s.time, float(s.rss_bytes)) for s in recent])  # type: ignore[arg-type]
    figures = stats(recent)
    if fit is None or fit[1] <= 0 or fit[2] < cfg.memory_fit or not figures.calls:
        return None
    first, last = fit[0] + fit[1] * recent[0].time, fit[0] + fit[1] * recent[-1].time
    growth_pct = 100.0 * (last - first) / first if first > 0 else 0.0
    if growth_pct < cfg.memory_growth_pct:
        return None
    calls_per_worker = figures.calls / max(figures.workers or view.running or 1, 1)
    budget = calls_per_worker * (cfg.memory_growth_pct / 2) / growth_pct
    proposal = max(10, _round_down(budget))
    current = view.max_calls_per_worker
    if current is not None and proposal >= current:
        return None
    slope_mb_h = fit[1] * 3600 / 2**20
    evidence = Evidence(cfg.memory_window_s, len(recent), recent[0].time, min(recent[-1].end, now),
                        (Threshold("RSS growth %", ">=", cfg.memory_growth_pct, growth_pct, len(recent)),
                         Threshold("trend fit R²", ">=", cfg.memory_fit, fit[2], len(recent))),
                        tuple(sorted({**figures.to_dict(), "rss_slope_mb_per_h": round(slope_mb_h, 2),
                                      "calls_per_worker": round(calls_per_worker, 1)}.items())))
    change = Change(view.plugin, "max_calls_per_worker", current, proposal)
    return Suggestion(
        suggestion_id("memory", view.plugin, change.to_dict()), "memory", view.plugin,
        f"recycle {view.plugin}'s workers every {proposal} calls: RSS per worker grows {slope_mb_h:.1f} MB/h",
        evidence, change, f"RSS per worker stays within about {cfg.memory_growth_pct / 2:g}% of its start "
                          "(each worker is drained and replaced; no call is lost)",
        "medium" if fit[2] >= 0.95 else "low")


def cache_rule(view: PluginView, samples: Sequence[Sample], now: float, cfg: AutotuneConfig,
               since: float | None) -> Suggestion | None:
    """Many calls repeat an identical (tool, payload) shortly after the same call: propose the response cache.
    Only right for a backend whose answer depends on its input alone, hence never more than medium confidence."""
    if view.cache_ttl_s > 0:
        return None
    recent = window(samples, now, cfg.cache_window_s, since)
    figures = stats(recent)
    if len(recent) < cfg.min_samples or figures.calls < cfg.cache_min_calls:
        return None
    share = 100.0 * figures.repeats / figures.calls
    if share < cfg.cache_repeat_pct:
        return None
    over = sum(1 for s in recent if s.calls and 100.0 * s.repeats / s.calls >= cfg.cache_repeat_pct)
    change = Change(view.plugin, "cache_ttl_s", None, cfg.cache_ttl_s)
    evidence = Evidence(cfg.cache_window_s, len(recent), recent[0].time, min(recent[-1].end, now),
                        (Threshold("identical payload %", ">=", cfg.cache_repeat_pct, share, over),),
                        tuple(sorted({**figures.to_dict(), "repeat_pct": round(share, 2)}.items())))
    p50 = f" (p50 {figures.p50_ms:.1f} ms)" if figures.p50_ms is not None else ""
    return Suggestion(
        suggestion_id("cache", view.plugin, change.to_dict()), "cache", view.plugin,
        f"cache {view.plugin}'s answers for {cfg.cache_ttl_s:g}s: {share:.0f}% of calls repeat a payload",
        evidence, change, f"about {share:.0f}% of calls answered from the router without a worker{p50}; only right "
                          "if the answer depends on the payload alone", "medium" if share >= 2 * cfg.cache_repeat_pct
        else "low")


def timeout_rule(view: PluginView, samples: Sequence[Sample], now: float, cfg: AutotuneConfig,
                 since: float | None) -> Suggestion | None:
    """p99 at ``timeout_ratio`` of ``timeout_s`` or more in most samples: calls are being (or about to be) cut."""
    recent = [s for s in window(samples, now, cfg.timeout_window_s, since) if s.calls]
    limit_ms = cfg.timeout_ratio * view.timeout_s * 1000
    over = [s for s in recent if s.p99_ms is not None and s.p99_ms >= limit_ms]
    if len(recent) < cfg.min_samples or len(over) < math.ceil(cfg.sustained * len(recent)):
        return None
    p99 = max(s.p99_ms for s in over)  # type: ignore[type-var]
    figures = stats(recent)
    proposal = float(_round_up(max(p99 / 1000 * cfg.timeout_headroom, view.timeout_s * 1.5)))
    change = Change(view.plugin, "timeout_s", view.timeout_s, proposal)
    timeouts = dict(figures.errors_by).get("timeout", 0)
    evidence = Evidence(cfg.timeout_window_s, len(recent), recent[0].time, min(recent[-1].end, now),
                        (Threshold("p99 ms", ">=", limit_ms, p99, len(over)),),
                        tuple(sorted({**figures.to_dict(), "timeouts": timeouts}.items())))
    return Suggestion(
        suggestion_id("timeout", view.plugin, change.to_dict()), "timeout", view.plugin,
        f"raise {view.plugin}'s timeout_s {view.timeout_s:g} → {proposal:g}: p99 {p99:.0f} ms",
        evidence, change, f"calls that take up to {proposal:g}s finish instead of failing with 504"
                          f"{f' ({timeouts} timed out in the window)' if timeouts else ''}; a slow backend stays slow",
        "medium" if timeouts else "low")


def _round_down(value: float) -> int:
    """Two significant digits, downwards: 1234 → 1200 (a number a person would write)."""
    if value < 100:
        return int(value)
    scale = 10 ** (int(math.log10(value)) - 1)
    return int(value // scale * scale)


def _round_up(value: float) -> int:
    if value <= 10:
        return math.ceil(value)
    scale = 10 ** (int(math.log10(value)) - 1)
    return int(math.ceil(value / scale) * scale)
