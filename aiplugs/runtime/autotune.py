"""The daemon's autotuner: every ``[autotune] interval_s`` it reads the metrics history, runs the rules
(``plan.autotune``) and keeps the standing suggestions; it picks the worker count of plugins declared with a
range and verifies applied suggestions once their verification window passed.

It decides nothing about what runs: a ranged plugin's count reaches the plan through :meth:`size`, which the
reconciler applies to the desired state before ``diff`` (so ``+ worker x#1 (scale 1→2)`` is a plan line like
any other), and an accepted suggestion is an edit of ``aiplugs.toml`` followed by the daemon's own apply
(``suggest_edits.py``). A fixed ``workers = 2`` is never changed without a person.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from ..errors import AiplugsError
from ..plan import DesiredState
from ..plan.autotune import (Memory, Suggestion, autoscale, plugin_settings, plugin_views, suggest, verdict,
                             with_counts)
from ..store.metrics_history import MetricsHistory, history_path
from ..store.suggestions import HistoryEntry, SuggestionStore, suggestions_path
from .autotune_inputs import longest_window, read_samples, read_signatures, verification_stats
from .suggest_edits import SuggestionError, apply_suggestion, preview, revert_entry

__all__ = ["Autotuner", "SuggestionError"]

log = logging.getLogger(__name__)


class Autotuner:
    """``daemon``: what it serves — ``desired``, ``env``, ``applied``, ``apply(body)``, ``reconciler`` and
    ``system`` (for the router's repeat counts); a stand-in with those works in tests."""

    def __init__(self, daemon: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.daemon = daemon
        self.clock = clock
        state_dir = daemon.desired.state_dir
        self.store = SuggestionStore(suggestions_path(state_dir))
        self.history = MetricsHistory(history_path(state_dir))
        self.log_dir = state_dir / "logs"
        self.current: tuple[Suggestion, ...] = ()
        self.evaluated_at: float | None = None
        self.scaled: dict[str, tuple[int, str, float]] = {}  # plugin → (count, reason of the last change, when)
        self.holding: dict[str, str] = {}  # plugin → why the autoscaler holds its count now
        self._lock = asyncio.Lock()  # one evaluation or action at a time
        self._loaded = False
        self._just_scaled: list[str] = []

    # ---- the count of ranged plugins -------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        if not self._loaded:  # the counts of the previous daemon: a restart does not drop to the minimum
            self.scaled, self._loaded = self.store.scaling(), True
        return {plugin: count for plugin, (count, _, _) in self.scaled.items()}

    def size(self, desired: DesiredState) -> DesiredState:
        """``desired`` with the autoscaler's counts; what the reconciler diffs against."""
        return with_counts(desired, self.counts())

    def scaling(self) -> dict[str, dict[str, Any]]:
        """For status: each ranged plugin's range, count, the reason of the last change and why it holds now."""
        counts = self.counts()
        out = {}
        for spec in self.size(self.daemon.desired).workers:
            if spec.count_range is None or getattr(spec, "ray", None) is not None:  # Ray Serve scales those
                continue
            _, reason, when = self.scaled.get(spec.plugin_id, (spec.count, "the declared minimum", None))
            out[spec.plugin_id] = {"min": spec.count_range[0], "max": spec.count_range[1],
                                   "count": counts.get(spec.plugin_id, spec.count), "reason": reason,
                                   "changed_at": when, "now": self.holding.get(spec.plugin_id)}
        return out

    # ---- evaluating ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluates every ``interval_s`` once the first apply happened (nothing runs before it)."""
        while not getattr(self.daemon, "applied", True):
            await asyncio.sleep(0.2)
        while True:
            try:
                await self.evaluate()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("autotune evaluation failed")
            await asyncio.sleep(self.daemon.desired.autotune.interval_s)

    async def evaluate(self) -> tuple[Suggestion, ...]:
        async with self._lock:
            desired = self.daemon.desired
            cfg, now = desired.autotune, self.clock()
            if not cfg.enabled:
                self.current = ()
                return self.current
            views = plugin_views(desired, self.counts())
            settings = {(v.plugin, k): value for v in views for k, value in plugin_settings(v).items()}
            repeats = self._repeats()

            def read() -> tuple[dict, dict, Memory]:
                samples = read_samples(self.history, [v.plugin for v in views], now - longest_window(cfg) - 60,
                                       now + 1, repeats)
                changed = dict(self.store.observe_settings(settings, now))
                for plugin, (_, _, when) in self.scaled.items():  # the autoscaler's own changes cool down too
                    key = (plugin, "workers")
                    changed[key] = max(changed.get(key, when), when)
                signatures = {v.plugin: read_signatures(self.log_dir, v.plugin) for v in views
                              if any(s.error_count for s in samples.get(v.plugin, ()))}
                return samples, signatures, Memory(changed, self.store.rejections())

            samples, signatures, memory = await asyncio.to_thread(read)
            if self._rescale(autoscale(views, samples, now, cfg, memory), now):
                views = plugin_views(desired, self.counts())
                memory = Memory({**memory.changed, **{(p, "workers"): now for p in self._just_scaled}},
                                memory.rejected)
            self.current = suggest(views, samples, now, cfg, memory, signatures)
            self.evaluated_at = now
            await asyncio.to_thread(self._verify, now, repeats)
            return self.current

    def _rescale(self, decisions: dict, now: float) -> bool:
        """Takes the autoscaler's decisions; True (and a reconcile pass is due) when a count changed."""
        counts = self.counts()
        self._just_scaled = []
        for plugin, decision in decisions.items():
            self.holding[plugin] = decision.reason
            spec = self.daemon.desired.worker(plugin)
            if decision.count == counts.get(plugin, spec.count if spec else decision.count):
                continue
            before = counts.get(plugin, spec.count if spec else 0)
            reason = f"{before} → {decision.count}: {decision.reason}"
            self.scaled[plugin] = (decision.count, reason, now)
            self.store.set_scaling(plugin, decision.count, reason, now)
            self._just_scaled.append(plugin)
            log.info("autoscale %s %s", plugin, reason)
        if self._just_scaled and getattr(self.daemon, "reconciler", None) is not None:
            self.daemon.reconciler.wake()
        return bool(self._just_scaled)

    def _repeats(self) -> Callable[[str], Any]:
        system = getattr(self.daemon, "system", None)
        router = getattr(system, "router", None)
        caches = getattr(getattr(getattr(router, "app", None), "state", None), "caches", None)
        return caches.repeats if caches is not None else (lambda plugin: {})

    def _verify(self, now: float, repeats: Callable[[str], Any]) -> None:
        """Entries whose verification window passed get the metrics after and a verdict."""
        after_s = self.daemon.desired.autotune.verify_after_s
        for entry in self.store.unverified():
            if entry.applied_at + after_s > now:
                continue
            after = verification_stats(self.history, entry.suggestion["plugin"], entry.applied_at, now, repeats)
            result, reason = verdict(entry.suggestion["rule"], entry.metrics_before, after)
            self.store.set_verdict(entry.id, after, result, reason, now)
            log.info("suggestion %s: %s (%s)", entry.suggestion_id, result, reason)

    # ---- what people ask for ---------------------------------------------------------------------------------

    def listing(self) -> dict[str, Any]:
        """``GET /api/suggestions``: the standing suggestions with their diffs, and the autoscaled plugins."""
        sha, diffs = preview(self.daemon.desired.config_path, self.current)
        return {"evaluated_at": self.evaluated_at, "config_sha256": sha,
                "suggestions": [{**s.to_dict(), "diff": diffs.get(s.id)} for s in self.current],
                "autoscaling": self.scaling()}

    def find(self, ref: str) -> Suggestion:
        """A standing suggestion by id or a unique start of one."""
        found = [s for s in self.current if s.id == ref] or [s for s in self.current if s.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if found:
            raise SuggestionError(f"{ref!r} names {len(found)} suggestions: {', '.join(s.id for s in found)}", 400)
        raise SuggestionError(f"no standing suggestion {ref!r} (`aiplugs suggest list` shows them)", 404)

    def show(self, ref: str) -> dict[str, Any]:
        try:
            suggestion = self.find(ref)
        except SuggestionError:
            return {"history": self.entry(ref).to_dict()}
        _, diffs = preview(self.daemon.desired.config_path, (suggestion,))
        return {"suggestion": {**suggestion.to_dict(), "diff": diffs.get(suggestion.id)}}

    def entry(self, ref: str) -> HistoryEntry:
        """A history entry by its number, or the newest one of a suggestion id (or a unique start of one)."""
        entries = self.store.entries()
        if ref.isdigit():
            found = [e for e in entries if e.id == int(ref)]
        else:
            found = [e for e in entries if e.suggestion_id == ref] or \
                [e for e in entries if e.suggestion_id.startswith(ref)][:1]
        if not found:
            raise SuggestionError(f"no suggestion or history entry {ref!r}", 404)
        return found[0]

    async def apply(self, ref: str, expect_sha256: str | None = None) -> dict[str, Any]:
        async with self._lock:
            suggestion = self.find(ref)
            entry, result = await apply_suggestion(suggestion, self.daemon.desired.config_path, self.daemon.env,
                                                   self.store, self._apply, self.clock(), expect_sha256)
            self.current = tuple(s for s in self.current if s.id != suggestion.id)
        return {"entry": entry.to_dict(), "apply": result}

    async def reject(self, ref: str) -> dict[str, Any]:
        async with self._lock:
            suggestion = self.find(ref)
            self.store.reject(suggestion.to_dict(), self.clock())
            self.current = tuple(s for s in self.current if s.id != suggestion.id)
        return {"rejected": suggestion.id, "hidden_for_s": self.daemon.desired.autotune.reject_for_s}

    async def revert(self, ref: str) -> dict[str, Any]:
        async with self._lock:
            entry = self.entry(ref)
            diff, result = await revert_entry(entry, self.daemon.desired.config_path, self.daemon.env, self.store,
                                              self._apply, self.clock())
        return {"reverted": entry.id, "suggestion": entry.suggestion_id, "diff": diff, "apply": result}

    def history_listing(self, limit: int = 200) -> dict[str, Any]:
        return {"history": [e.to_dict() for e in self.store.entries(limit)]}

    async def _apply(self) -> dict[str, Any]:
        result = await self.daemon.apply({"config": str(self.daemon.desired.config_path), "env": self.daemon.env})
        if not isinstance(result, dict):
            raise AiplugsError("the daemon's apply answered nothing")
        return {k: v for k, v in result.items() if k != "status"}
