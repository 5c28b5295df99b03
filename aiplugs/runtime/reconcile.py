"""The reconcile loop: observe → diff → converge, the one path for apply, self-healing, lazy start and restarts.

A pass observes the running system (plus what people and pages asked for: a call for a lazy plugin, ``aiplugs
restart``, ``aiplugs models pull``), asks ``plan.diff`` what to do and hands the plan to ``converge``. Passes run
one at a time. The loop runs a pass every ``interval`` seconds, sooner when something changed by itself (a worker
exited) or a backoff falls due, and ``apply`` runs passes until nothing is left to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from ..events import EventBus
from ..events.catalogue import APPLY_PLANNED, PLUGIN_STATE
from ..plan import DesiredState, Plan, diff
from .converge import ConvergeResult, Failure, converge
from .status import plugin_states

__all__ = ["Reconciler"]

log = logging.getLogger(__name__)
APPLY_ROUNDS = 4  # install packages → plan their plugins → a verify that failed → the download it calls for


class Reconciler:
    def __init__(self, system: Any, desired: DesiredState, events: EventBus, *, interval: float = 2.0) -> None:
        self.system = system  # a RunningSystem (or any System that can observe and record)
        self.desired = desired
        self.events = events
        self.interval = interval
        self.demanded: set[str] = set()  # lazy plugins a call asked for
        self.restarts: set[str] = set()  # plugins whose workers a person asked to restart
        self.pulls: set[str] = set()  # model files a person asked to pull
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._recheck: float | None = None
        self._states: dict[str, str] = {}
        # the autoscaler's counts for plugins declared with a worker range, put into the desired state before
        # each diff (runtime/autotune.py): the plan stays the one decider of what starts and stops
        self.sizer: Callable[[DesiredState], DesiredState] = lambda desired: desired

    def wake(self) -> None:
        """Something changed by itself (a worker exited): look again now rather than at the next tick."""
        self._wake.set()

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    # ---- passes ----------------------------------------------------------------------------------------------

    @property
    def target(self) -> DesiredState:
        """What passes converge to: the declaration, with the autoscaler's counts of ranged plugins."""
        return self.sizer(self.desired)

    def observe_and_plan(self, desired: DesiredState | None = None) -> Plan:
        desired = self.target if desired is None else desired
        actual = self.system.observe(desired, demanded=self.demanded, restarts=self.restarts,
                                     pulls=self.pulls)
        return diff(desired, actual)

    async def pass_once(self) -> ConvergeResult | None:
        """One observe → diff → converge; None when the plan had nothing to do."""
        async with self._lock:
            return await self._pass()

    async def _pass(self) -> ConvergeResult | None:
        await self.system.record_state()  # a damaged or foreign state.json is rewritten before it is read
        restarts, pulls = set(self.restarts), set(self.pulls)
        target = self.target
        plan = self.observe_and_plan(target)
        self._recheck = plan.recheck_after
        result = None
        if plan.changes_present:
            log.info("%s\n%s", plan.summary(), "\n".join(f"  {a}" for a in plan.changes))
            self.events.publish(APPLY_PLANNED, summary=plan.summary(), changes=[str(a) for a in plan.changes])
            result = await converge(plan, target, self.system, self.events)
        # a pass settles the requests it saw: what they called for ran (a failure is then the plugin's state
        # to show), or nothing was there to act on (a restart with no workers running is not kept for later)
        self.restarts -= restarts
        self.pulls -= pulls
        await self.system.record_state()
        self._publish_states()
        return result

    async def apply(self, desired: DesiredState,
                    reload: Callable[[], DesiredState] | None = None) -> ConvergeResult:
        """Makes ``desired`` the target and converges to it: passes until one has nothing to do (a verify that
        failed is followed by the download it calls for; a package installed is followed by its plugin, once
        ``reload`` read the declaration again). Failures of plugins that had failed are forgiven: an apply is a
        person asking to try again."""
        async with self._lock:
            self.desired = desired
            self.system.forget_failures()
        started, first = time.monotonic(), None
        failed: dict[str, Failure] = {}  # by unit: a later pass that carries the unit out cures it
        for _ in range(APPLY_ROUNDS):
            result = await self.pass_once()
            if result is None:
                break
            first = first or result
            failed.update((f.unit, f) for f in result.failures)
            cured = {a.unit for a in result.plan.changes} - {f.unit for f in result.failures}
            for unit in cured:
                failed.pop(unit, None)
            installed = any(a.type == "package" and a.unit not in {f.unit for f in result.failures}
                            for a in result.plan.changes)
            if installed and reload is not None:
                desired = await asyncio.to_thread(reload)
                async with self._lock:
                    self.desired = desired
        if first is None:
            return ConvergeResult(self.observe_and_plan(), (), time.monotonic() - started)
        return ConvergeResult(first.plan, tuple(failed.values()), time.monotonic() - started)

    async def demand(self, plugin_id: str) -> None:
        """A call for a lazy plugin: its models and workers are provisioned now (the caller waits)."""
        if plugin_id in self.demanded and self.system.workers.serving(plugin_id):
            return
        self.demanded.add(plugin_id)
        await self.pass_once()

    async def restart(self, plugin_id: str) -> ConvergeResult | None:
        """The request and its pass under one lock: a loop pass in between cannot take the request (and its
        outcome) away from the caller who waits for it."""
        async with self._lock:
            self.restarts.add(plugin_id)
            self.system.forget_failures(plugin_id)
            return await self._pass()

    async def pull(self, filenames: set[str]) -> ConvergeResult | None:
        async with self._lock:
            self.pulls |= filenames
            return await self._pass()

    # ---- the loop --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            delay = self.interval if self._recheck is None else min(self.interval, self._recheck + 0.01)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile pass failed")

    def _publish_states(self) -> None:
        """``plugin.state`` for each plugin whose state changed, judged on one observation (and its clock)."""
        target = self.target
        actual = self.system.observe(target, demanded=self.demanded, restarts=self.restarts,
                                     pulls=self.pulls)
        states = plugin_states(target, actual.workers, actual.plugins, actual.now,
                               {e.id: e for e in actual.envs}, {h.plugin_id: h for h in actual.hooks})
        for plugin in self.desired.plugins:
            seen = actual.plugin(plugin.id)
            state, needs = states[plugin.id]
            if self._states.get(plugin.id) != state.value:
                self._states[plugin.id] = state.value
                reason = f"needs {', '.join(needs)}" if needs else (
                    seen.last_error if state.value != "ready" else None)
                self.events.publish(PLUGIN_STATE, plugin_id=plugin.id, state=state.value, reason=reason)
