"""One plugin's actions in a plan: its install hook, its workers, its route — held back while a plugin it depends
on is not ready, or while its environment or install hook failed — and the uninstall hook of a plugin removed.

``diff`` walks plugins in dependency order and keeps ``ready``: whether each plugin will serve once the plan ran.
A plugin whose dependency will not is *blocked*: nothing of it starts, and it starts by itself in the pass after
its dependency became ready. Converge holds the same line within a pass (a dependency that fails to start there
blocks its dependents for that pass).
"""

from __future__ import annotations

from .actions import Action, ActionKind
from .actual import ActualState, ObservedWorker
from .desired import DesiredState, PluginSpec, WorkerSpec
from .policy import FAILURE_WINDOW_S, restart_decision

__all__ = ["plugin_actions", "uninstall_actions"]

C, U, R, D, N = ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE, ActionKind.NOOP


def plugin_actions(desired: DesiredState, plugin: PluginSpec, actual: ActualState,
                   running: dict[int, ObservedWorker], waits: list[float], ready: dict[str, bool]) -> list[Action]:
    """Hook, workers and route of ``plugin``; records in ``ready`` whether it will serve after this plan."""
    spec = desired.worker(plugin.id)
    if spec is None:  # cloud: the relay answers as soon as its route is in place
        ready[plugin.id] = True
        return _route_actions(desired, plugin.id, actual)
    needs = [d for d in plugin.dependencies if d in ready and not ready[d]]
    if needs:
        workers = _blocked(spec, running, needs)
        hooks: list[Action] = []
    else:
        workers = _worker_actions(desired, spec, running, actual, waits)
        hooks = _install_hook(spec, actual, workers)
        if hooks and hooks[0].kind is N:  # the install hook failed: nothing of it starts until a retry
            workers = [Action(N, "worker", f"{spec.plugin_id}#{i}", "not started: its install hook failed")
                       for i in range(spec.count)]
    lazy_idle = not running and plugin.provision == "lazy" and not actual.plugin(plugin.id).demanded
    ready[plugin.id] = spec.count > 0 and not needs and (lazy_idle or all(
        a.kind in (C, R) or (a.kind is N and a.name.partition("#")[2].isdigit()
                             and _alive(running, int(a.name.partition("#")[2])))
        for a in workers if a.kind is not D))
    in_place = all(i in running and running[i].alive for i in range(spec.count))
    held = not in_place and all(a.kind is N for a in workers)  # backing off, given up, blocked or failed
    return hooks + _placed(spec, workers) + _route_actions(desired, plugin.id, actual, held=held)


def _placed(spec: WorkerSpec, workers: list[Action]) -> list[Action]:
    """Worker lines of a plugin on Ray say where it runs: ``+ worker detector#0  (start, ray: local)``."""
    if spec.ray is None:
        return workers
    return [Action(a.kind, a.type, a.name, f"{a.reason}, {spec.ray.where}") for a in workers]


def _alive(running: dict[int, ObservedWorker], index: int) -> bool:
    seen = running.get(index)
    return seen is not None and seen.alive


def _blocked(spec: WorkerSpec, running: dict[int, ObservedWorker], needs: list[str]) -> list[Action]:
    """Workers that run stay (their calls into the dependency fail on their own); none starts."""
    reason = f"blocked (needs {', '.join(needs)})"
    return [Action(N, "worker", f"{spec.plugin_id}#{i}",
                   f"running (pid {running[i].pid})" if _alive(running, i) else reason) for i in range(spec.count)]


def _install_hook(spec: WorkerSpec, actual: ActualState, workers: list[Action]) -> list[Action]:
    """``install(ctx)`` once per plugin version, before the first of its workers starts."""
    if "install" not in spec.hooks:
        return []
    seen = actual.hooks_of(spec.plugin_id)
    name = f"{spec.plugin_id} install"
    if seen.installed == spec.version:
        return []
    if seen.failed_hook == "install" and seen.error:
        return [Action(N, "hook", name, f"failed: {seen.error.splitlines()[0][:100]} (`aiplugs apply` retries)")]
    if any(a.kind in (C, R) for a in workers):
        was = f", after {seen.installed}" if seen.installed else ""
        return [Action(C, "hook", name, f"once for version {spec.version}{was}, before its workers start")]
    return []


def _worker_actions(desired: DesiredState, spec: WorkerSpec, running: dict[int, ObservedWorker],
                    actual: ActualState, waits: list[float]) -> list[Action]:
    plugin = desired.plugin(spec.plugin_id)
    observed = actual.plugin(spec.plugin_id)
    if not running and plugin is not None and plugin.provision == "lazy" and not observed.demanded:
        return [Action(N, "worker", f"{spec.plugin_id}#0", "lazy: started on first call")]
    env = actual.env(spec.python_env)
    if env is not None and env.error and not env.ready:
        return [Action(N, "worker", f"{spec.plugin_id}#{i}", f"not started: Python environment {env.id} failed")
                for i in range(spec.count)]
    actions, before = [], len(running)
    for index in range(spec.count):
        unit, seen = f"{spec.plugin_id}#{index}", running.get(index)
        if seen is None:
            actions.append(Action(C, "worker", unit, f"scale {before}→{spec.count}" if before else "start"))
        elif seen.config_hash != spec.config_hash:
            actions.append(Action(R, "worker", unit, "config changed"))
        elif observed.restart_requested:
            actions.append(Action(R, "worker", unit, "restart requested"))
        elif seen.alive:
            actions.append(Action(N, "worker", unit, f"running (pid {seen.pid})"))
        else:
            actions.append(_revive(unit, seen, observed.failures, observed.last_error, actual.now, waits))
    for index in sorted(i for i in running if i >= spec.count):
        actions.append(Action(D, "worker", f"{spec.plugin_id}#{index}", f"scale {before}→{spec.count}"))
    return actions


def _revive(unit: str, seen: ObservedWorker, failures: tuple[float, ...], last_error: str | None, now: float,
            waits: list[float]) -> Action:
    """A worker that is not running: restart it now, after its backoff, or not at all (crash loop)."""
    decision = restart_decision(failures, now)
    if decision.give_up:
        why = f"; last: {last_error.splitlines()[0][:80]}" if last_error else ""
        return Action(N, "worker", unit, f"failed: {decision.recent} failures within {FAILURE_WINDOW_S:g}s{why} "
                                         "(`aiplugs restart` or `aiplugs apply` retries)")
    if decision.wait_s > 0:
        waits.append(decision.wait_s)
        return Action(N, "worker", unit, f"restart in {decision.wait_s:.1f}s (backoff)")
    return Action(R, "worker", unit, f"not running ({_ended(seen)})")


def _ended(seen: ObservedWorker) -> str:
    if seen.exit_signal:
        return f"killed by {seen.exit_signal}"
    if seen.exit_code is not None:
        return f"exited with code {seen.exit_code}"
    return "never answered" if seen.pid is None else f"pid {seen.pid} gone"


def _route_actions(desired: DesiredState, plugin_id: str, actual: ActualState, *, held: bool = False
                   ) -> list[Action]:
    """A route switches once its workers are in place: within one plan converge orders it after them, and a
    route whose workers are not running (``held``) keeps what it answers until they run. A new route is made
    anyway: it answers calls with the plugin's state rather than an unknown plugin."""
    route = desired.route(plugin_id)
    if route is None:
        return []
    seen = next((r for r in actual.routes if r.plugin_id == plugin_id), None)
    where = f"relay to cloud {route.relay.path}" if route.relay else (
        "local workers, started on first call" if route.lazy else "local workers")
    if seen is None:
        return [Action(C, "route", plugin_id, where)]
    if seen.config_hash != route.config_hash:
        if held and route.relay is None and not route.lazy:
            return [Action(N, "route", plugin_id, f"switches to {where} once its workers run")]
        return [Action(U, "route", plugin_id, f"now {where}")]
    return [Action(N, "route", plugin_id, where)]


def uninstall_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    """``uninstall(ctx)`` of each plugin removed from the declaration (not merely disabled), once its workers
    stopped and before its package is deleted; its record goes with it."""
    present = {p.id for p in desired.plugins} | set(desired.disabled)
    actions = []
    for hooks in sorted(actual.hooks, key=lambda h: h.plugin_id):
        if hooks.plugin_id in present or not (hooks.uninstall or hooks.installed):
            continue
        name = f"{hooks.plugin_id} uninstall"
        if hooks.failed_hook == "uninstall" and hooks.error:
            actions.append(Action(N, "hook", name, f"failed: {hooks.error.splitlines()[0][:100]} "
                                                   "(`aiplugs apply` retries; its package stays until then)"))
        elif hooks.uninstall and hooks.files_present:
            actions.append(Action(C, "hook", name, "plugin removed: runs before its files are deleted"))
        else:
            why = "its files are gone" if hooks.uninstall else "it defines no uninstall hook"
            actions.append(Action(C, "hook", name, f"plugin removed; {why}: only its record is dropped"))
    return actions
