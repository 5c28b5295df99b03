"""Converge: carry out a Plan through the running system's adapters. The only place where a plan has effects.

Order matters and is fixed: router, proxy (it needs the router's address), rules, models (workers need their
files), worker pools, relays. Each step is idempotent, so a converge interrupted halfway is finished by the next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from ..events import NULL_BUS, EventBus
from ..plan import Action, ActionKind, Plan
from ..plan import DesiredState, EndpointSpec, ModelSpec, ProxySpec, WorkerSpec

__all__ = ["ConvergeResult", "Failure", "System", "converge"]

log = logging.getLogger("aiplugs.runtime.converge")


class System(Protocol):
    """What converge drives; the daemon implements it over the real adapters."""

    async def ensure_api(self, spec: EndpointSpec) -> None: ...
    async def ensure_proxy(self, spec: ProxySpec) -> None: ...
    def swap_rules(self, spec: ProxySpec) -> None: ...
    async def ensure_model(self, model: ModelSpec) -> None: ...
    async def ensure_pool(self, spec: WorkerSpec) -> None: ...
    async def remove_pool(self, plugin_id: str) -> None: ...
    def set_relays(self, desired: DesiredState) -> None: ...


@dataclass(frozen=True)
class Failure:
    unit: str
    error: str


@dataclass(frozen=True)
class ConvergeResult:
    plan: Plan
    failures: tuple[Failure, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {"ok": self.ok, "seconds": round(self.seconds, 3), "plan": self.plan.to_dict(),
                "failures": [{"unit": f.unit, "error": f.error} for f in self.failures]}


@dataclass
class _Run:
    system: System
    events: EventBus
    failures: list[Failure] = field(default_factory=list)

    async def step(self, unit: str, coro) -> bool:
        self.events.publish("apply.action_started", unit=unit)
        try:
            await coro
        except Exception as e:  # one unit failing must not stop the others
            message = str(e) or e.__class__.__name__
            log.warning("%s failed: %s", unit, message)
            self.failures.append(Failure(unit, message))
            self.events.publish("apply.action_finished", unit=unit, ok=False, error=message)
            return False
        self.events.publish("apply.action_finished", unit=unit, ok=True)
        return True


async def _nothing() -> None:
    return None


async def converge(plan: Plan, desired: DesiredState, system: System, events: EventBus = NULL_BUS) -> ConvergeResult:
    started = time.monotonic()
    run = _Run(system, events)
    changes = {a.type: [] for a in plan.changes}
    for action in plan.changes:
        changes[action.type].append(action)

    if "api" in changes and not await run.step("api", system.ensure_api(desired.api)):
        return ConvergeResult(plan, tuple(run.failures), time.monotonic() - started)
    if "proxy" in changes:
        await run.step("proxy", system.ensure_proxy(desired.proxy))
    elif "rules" in changes:
        await run.step("rules", _sync(system.swap_rules, desired.proxy))

    models = {m.filename: m for m in desired.models}
    model_actions = [a for a in changes.get("model", []) if a.kind is not ActionKind.DELETE]
    results = await asyncio.gather(*(run.step(a.unit, system.ensure_model(models[a.name])) for a in model_actions))
    failed_models = {a.name for a, ok in zip(model_actions, results) if not ok}

    pools = {w.plugin_id: w for w in desired.workers}
    touched = _plugins(changes.get("worker", []))
    for plugin_id in touched:
        spec = pools.get(plugin_id)
        if spec is None:
            await run.step(f"worker {plugin_id}", system.remove_pool(plugin_id))
        elif failed_models & set(spec.models):
            run.failures.append(Failure(f"worker {plugin_id}", "not started: its model is not available"))
        else:
            await run.step(f"worker {plugin_id}", system.ensure_pool(spec))

    if "relay" in changes:
        await run.step("relays", _sync(system.set_relays, desired))
    result = ConvergeResult(plan, tuple(run.failures), time.monotonic() - started)
    events.publish("apply.finished" if result.ok else "apply.failed", ok=result.ok,
                   failures=[f.unit for f in result.failures], seconds=round(result.seconds, 3))
    return result


def _plugins(actions: list[Action]) -> list[str]:
    return list(dict.fromkeys(a.plugin_id for a in actions))


async def _sync(fn, *args) -> None:
    fn(*args)
