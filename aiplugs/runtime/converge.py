"""Converge: carry out a Plan, each action through exactly one call of the ``System`` chosen by its (type, kind).

Nothing here decides what to change — ``plan.diff`` did. Converge only keeps the plan's order (router, proxy,
rules; then package installs; then Python environments and models side by side; then each plugin's workers and
route; package removals last), runs a unit's actions only when what they need succeeded (a worker whose model or
environment failed is not started), and reports every outcome as events and in a ``ConvergeResult``. Each System
call is idempotent, so a converge interrupted halfway is finished by the next pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from ..events import NULL_BUS, EventBus
from ..events.catalogue import APPLY_ACTION_FINISHED, APPLY_ACTION_STARTED, APPLY_FAILED, APPLY_FINISHED
from ..plan import (Action, ActionKind, DesiredState, EndpointSpec, EnvSpec, ModelSpec, PackageSpec, Plan, ProxySpec,
                    RouteSpec, WorkerSpec)

__all__ = ["ConvergeResult", "Failure", "System", "converge"]

log = logging.getLogger(__name__)
C, U, R, D = ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE


class System(Protocol):
    """The doers converge drives; the daemon's RunningSystem implements them over the real adapters."""

    async def start_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None: ...
    async def restart_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None: ...
    async def configure_api(self, max_body_bytes: int, settings_hash: str) -> None: ...
    async def start_proxy(self, spec: ProxySpec) -> None: ...
    async def restart_proxy(self, spec: ProxySpec) -> None: ...
    async def swap_rules(self, spec: ProxySpec) -> None: ...
    async def install_package(self, package: PackageSpec) -> None: ...
    async def remove_package(self, plugin_id: str) -> None: ...
    async def create_env(self, env: EnvSpec) -> None: ...
    async def remove_env(self, env_id: str) -> None: ...
    async def run_install_hook(self, spec: WorkerSpec) -> None: ...
    async def run_uninstall_hook(self, plugin_id: str) -> None: ...
    async def download_model(self, model: ModelSpec) -> None: ...
    async def verify_model(self, model: ModelSpec) -> None: ...
    async def start_worker(self, spec: WorkerSpec, index: int) -> None: ...
    async def restart_worker(self, spec: WorkerSpec, index: int) -> None: ...
    async def stop_worker(self, plugin_id: str, index: int) -> None: ...
    async def set_route(self, route: RouteSpec) -> None: ...
    async def remove_route(self, plugin_id: str) -> None: ...


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

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "seconds": round(self.seconds, 3), "plan": self.plan.to_dict(),
                "failures": [{"unit": f.unit, "error": f.error} for f in self.failures]}


def _call(system: System, desired: DesiredState, action: Action) -> Awaitable[None]:
    """The one System call that carries out ``action``."""
    kind, name = action.kind, action.name
    match action.type, kind:
        case "api", ActionKind.CREATE:
            return system.start_api(desired.api, desired.max_body_bytes, desired.api_hash)
        case "api", ActionKind.REPLACE:
            return system.restart_api(desired.api, desired.max_body_bytes, desired.api_hash)
        case "api", ActionKind.UPDATE:
            return system.configure_api(desired.max_body_bytes, desired.api_hash)
        case "proxy", ActionKind.CREATE:
            return system.start_proxy(desired.proxy)
        case "proxy", ActionKind.REPLACE:
            return system.restart_proxy(desired.proxy)
        case "rules", ActionKind.UPDATE:
            return system.swap_rules(desired.proxy)
        case "package", ActionKind.CREATE | ActionKind.UPDATE:
            return system.install_package(_need(desired.package(name), action))
        case "package", ActionKind.DELETE:
            return system.remove_package(name)
        case "env", ActionKind.CREATE:
            return system.create_env(_need(desired.env(name), action))
        case "env", ActionKind.DELETE:
            return system.remove_env(name)
        case "hook", ActionKind.CREATE if name.endswith(" install"):
            return system.run_install_hook(_need(desired.worker(action.plugin_id), action))
        case "hook", ActionKind.CREATE if name.endswith(" uninstall"):
            return system.run_uninstall_hook(action.plugin_id)
        case "model", ActionKind.CREATE | ActionKind.REPLACE:
            return system.download_model(_need(desired.model(name), action))
        case "model", ActionKind.UPDATE:
            return system.verify_model(_need(desired.model(name), action))
        case "worker", ActionKind.CREATE:
            return system.start_worker(_need(desired.worker(action.plugin_id), action), action.index)
        case "worker", ActionKind.REPLACE:
            return system.restart_worker(_need(desired.worker(action.plugin_id), action), action.index)
        case "worker", ActionKind.DELETE:
            return system.stop_worker(action.plugin_id, action.index)
        case "route", ActionKind.CREATE | ActionKind.UPDATE:
            return system.set_route(_need(desired.route(name), action))
        case "route", ActionKind.DELETE:
            return system.remove_route(name)
    raise ValueError(f"no way to carry out {action}")  # a plan diff cannot produce


def _need(spec: Any, action: Action) -> Any:
    if spec is None:
        raise ValueError(f"{action.unit} is not in the desired state")
    return spec


@dataclass
class _Run:
    system: System
    desired: DesiredState
    events: EventBus
    failures: list[Failure] = field(default_factory=list)
    failed_units: set[str] = field(default_factory=set)
    not_serving: set[str] = field(default_factory=set)  # plugins whose workers failed to start in this pass

    async def step(self, action: Action) -> bool:
        unit = action.unit
        self.events.publish(APPLY_ACTION_STARTED, unit=unit)
        try:
            await _call(self.system, self.desired, action)
        except Exception as e:  # one unit failing must not stop the others
            return self.fail(unit, str(e) or e.__class__.__name__)
        self.events.publish(APPLY_ACTION_FINISHED, unit=unit, ok=True, error=None)
        return True

    def fail(self, unit: str, message: str) -> bool:
        log.warning("%s failed: %s", unit, message)
        self.failures.append(Failure(unit, message))
        self.failed_units.add(unit)
        self.events.publish(APPLY_ACTION_FINISHED, unit=unit, ok=False, error=message)
        return False


async def converge(plan: Plan, desired: DesiredState, system: System, events: EventBus = NULL_BUS,
                   *, on_action: Callable[[Action, bool], None] | None = None) -> ConvergeResult:
    started = time.monotonic()
    run = _Run(system, desired, events)
    changes = plan.changes
    first = [a for a in changes if a.type in ("api", "proxy", "rules")]
    for action in first:
        if not await run.step(action) and action.type == "api":
            return _finish(run, plan, started)  # nothing can be served without the router
    installs = [a for a in changes if a.type == "package" and a.kind is not D]
    await asyncio.gather(*(run.step(a) for a in installs))  # their plugins are planned in the next pass
    needs = [a for a in changes if a.type in ("env", "model") and a.kind is not D]  # what workers need, side by side
    await asyncio.gather(*(run.step(a) for a in needs))
    failed = {a.name for a in needs if a.unit in run.failed_units}
    rest = [a for a in changes if a.type in ("worker", "route") or _hook(a, "install")]
    for plugin_id in dict.fromkeys(a.plugin_id for a in rest):  # dependency order
        await _plugin_steps(run, [a for a in rest if a.plugin_id == plugin_id], failed)
    for action in (a for a in changes if _hook(a, "uninstall")):  # after its workers stopped
        await run.step(action)
    for action in (a for a in changes if a.type == "package" and a.kind is D):  # last: its files go
        if f"hook {action.plugin_id} uninstall" in run.failed_units:
            run.fail(action.unit, "not removed: its uninstall hook failed (its files stay for the next try)")
        else:
            await run.step(action)
    for action in (a for a in changes if a.type == "env" and a.kind is D):  # environments nothing runs in
        await run.step(action)
    return _finish(run, plan, started)


def _hook(action: Action, hook: str) -> bool:
    return action.type == "hook" and action.name.endswith(f" {hook}")


async def _plugin_steps(run: _Run, actions: list[Action], failed: set[str]) -> None:
    """One plugin's install hook, then its worker actions (concurrently), then its route once they succeeded;
    deletions in plan order. ``failed``: the models and Python environments that could not be provided in this
    pass. A plugin whose dependency did not start in this pass is not started either."""
    workers = [a for a in actions if a.type == "worker" and a.kind is not D]
    hooks = [a for a in actions if a.type == "hook"]
    spec = run.desired.worker(actions[0].plugin_id)
    plugin = run.desired.plugin(actions[0].plugin_id)
    missing = sorted(failed & set(spec.models)) if spec is not None else []
    down = [d for d in (plugin.dependencies if plugin is not None else ()) if d in run.not_serving]
    reason = None
    if spec is not None and spec.python_env in failed:
        reason = f"not started: its Python environment {spec.python_env} could not be built"
    elif missing:
        reason = f"not started: its model {', '.join(missing)} is not available"
    elif down:
        reason = f"not started: needs {', '.join(down)}, which did not start"
    for action in hooks:
        if reason is not None:
            run.fail(action.unit, reason.replace("not started", "not run"))
        elif not await run.step(action):
            reason = "not started: its install hook failed"
    if reason is not None:
        for action in workers:
            run.fail(action.unit, reason)
    else:
        await asyncio.gather(*(run.step(a) for a in workers))
    if any(a.unit in run.failed_units for a in workers):
        run.not_serving.add(actions[0].plugin_id)
    for action in (a for a in actions if a not in workers and a not in hooks):
        if action.type == "route" and action.kind is not D and any(a.unit in run.failed_units for a in workers):
            run.fail(action.unit, "not switched: its workers did not start")
            continue
        await run.step(action)


def _finish(run: _Run, plan: Plan, started: float) -> ConvergeResult:
    result = ConvergeResult(plan, tuple(run.failures), time.monotonic() - started)
    run.events.publish(APPLY_FINISHED if result.ok else APPLY_FAILED, ok=result.ok,
                       failures=[f.unit for f in result.failures], seconds=round(result.seconds, 3))
    return result
