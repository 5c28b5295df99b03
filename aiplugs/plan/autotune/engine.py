"""The engine: every rule over every local plugin, then the anti-flap filters, in one pure function; and the
autoscaler's decision for plugins declared with a worker range.

Filters, in order: a setting that changed less than ``cooldown_s`` ago is left alone (and samples from before
the change never count: each rule gets ``since``); a rejected suggestion stays hidden ``reject_for_s``; one
suggestion per (plugin, setting); and no scale-down while the same plugin's calls run into its timeout (fewer
workers would make slow calls slower). Same samples and memory in, same suggestions out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ...declaration.autotune import AutotuneConfig
from ..desired import DesiredState
from .rules import PluginView, cache_rule, errors_rule, memory_rule, scale_rule, timeout_rule
from .samples import Sample
from .scaling import ScaleDecision, decide_count
from .suggestion import RULES, Suggestion

__all__ = ["Memory", "autoscale", "plugin_settings", "plugin_views", "suggest"]


@dataclass(frozen=True)
class Memory:
    """What the tuner remembers between evaluations (the runtime keeps it in sqlite)."""

    changed: Mapping[tuple[str, str], float] = field(default_factory=dict)  # (plugin, setting) → when it changed
    rejected: Mapping[str, float] = field(default_factory=dict)  # suggestion id → when it was rejected

    def since(self, plugin: str, setting: str) -> float | None:
        return self.changed.get((plugin, setting))

    def cooling(self, plugin: str, setting: str, now: float, cfg: AutotuneConfig) -> float:
        """Seconds left of the setting's cooldown (0: none)."""
        changed = self.since(plugin, setting)
        return 0.0 if changed is None else max(0.0, changed + cfg.cooldown_s - now)


def plugin_views(desired: DesiredState, running: Mapping[str, int] | None = None) -> tuple[PluginView, ...]:
    """The local plugins as the rules see them; ``running``: the autoscaler's counts of ranged plugins."""
    running = running or {}
    views = []
    for spec in desired.workers:
        route = desired.route(spec.plugin_id)
        declared: int | tuple[int, int] = spec.count_range if spec.count_range is not None else spec.count
        elsewhere = getattr(spec, "ray", None) is not None
        count = running.get(spec.plugin_id, spec.count) if spec.count_range and not elsewhere else spec.count
        views.append(PluginView(spec.plugin_id, declared, count, spec.timeout_s, spec.max_calls_per_worker,
                                route.cache_ttl_s if route is not None else 0.0, elsewhere))
    return tuple(views)


def plugin_settings(view: PluginView) -> dict[str, Any]:
    """The values a suggestion may change, as the declaration has them (a range as {min, max})."""
    workers = {"min": view.workers[0], "max": view.workers[1]} if view.ranged else view.workers  # type: ignore
    return {"workers": workers, "max_calls_per_worker": view.max_calls_per_worker, "cache_ttl_s": view.cache_ttl_s,
            "timeout_s": view.timeout_s}


def suggest(views: Sequence[PluginView], samples: Mapping[str, Sequence[Sample]], now: float, cfg: AutotuneConfig,
            memory: Memory = Memory(), signatures: Mapping[str, Sequence[tuple[str, int]]] | None = None
            ) -> tuple[Suggestion, ...]:
    """Every standing suggestion, errors first; ``signatures``: the top error signatures per plugin (logs)."""
    signatures = signatures or {}
    found: list[Suggestion] = []
    for view in views:
        own = samples.get(view.plugin, ())
        pid = view.plugin
        candidates = [
            errors_rule(view, own, now, cfg, signatures.get(pid, ())),
            timeout_rule(view, own, now, cfg, memory.since(pid, "timeout_s")),
            scale_rule(view, own, now, cfg, memory.since(pid, "workers")),
            memory_rule(view, own, now, cfg, memory.since(pid, "max_calls_per_worker")),
            cache_rule(view, own, now, cfg, memory.since(pid, "cache_ttl_s")),
        ]
        taken: set[str] = set()
        for suggestion in sorted((c for c in candidates if c is not None), key=lambda s: RULES.index(s.rule)):
            setting = suggestion.setting
            if setting is not None and (setting in taken or memory.cooling(pid, setting, now, cfg) > 0):
                continue
            rejected = memory.rejected.get(suggestion.id)
            if rejected is not None and now - rejected < cfg.reject_for_s:
                continue
            if suggestion.rule == "scale-down" and any(s.rule == "timeout" and s.plugin == pid for s in found):
                continue
            if setting is not None:
                taken.add(setting)
            found.append(suggestion)
    return tuple(sorted(found, key=lambda s: (RULES.index(s.rule), s.plugin)))


def autoscale(views: Sequence[PluginView], samples: Mapping[str, Sequence[Sample]], now: float,
              cfg: AutotuneConfig, memory: Memory = Memory()) -> dict[str, ScaleDecision]:
    """The count of each plugin with a worker range, and why: the same decision as the scale suggestions, under
    the same cooldown (the autoscaler's own changes count as changes)."""
    decisions = {}
    for view in views:
        if not view.ranged or view.scaled_elsewhere:
            continue
        low, high = view.workers  # type: ignore[misc]
        running = min(max(view.running, low), high)
        if running != view.running:  # a person changed the range: its bound wins at once
            decisions[view.plugin] = ScaleDecision(running, "up" if running > view.running else "down",
                                                   f"the declared range is {low}-{high}")
            continue
        left = memory.cooling(view.plugin, "workers", now, cfg)
        if left > 0:
            decisions[view.plugin] = ScaleDecision(running, "hold", f"cooling down ({left:.0f}s left)")
            continue
        decisions[view.plugin] = decide_count(samples.get(view.plugin, ()), now, running, low, high, cfg,
                                              memory.since(view.plugin, "workers"))
    return decisions
