"""diff: the only decider. Compares a DesiredState with an observed ActualState and returns the Plan; no I/O.

Order is the order converge carries actions out in: router, proxy, rules, models, then per plugin (dependencies
first) its workers and then its route — so the router switches a plugin only after its workers or relay are in
place — and last the deletions of plugins no longer wanted (route first, so traffic stops before the workers),
then of Python environments no plugin runs in any more (only once every worker runs as desired).
Self-healing, lazy start and ``aiplugs restart`` are the same path: what the runtime observed (a dead worker, a
call for a lazy plugin, a restart request) becomes an action here.
"""

from __future__ import annotations

from typing import Literal

from .actions import Action, ActionKind, Plan
from .actual import ActualState, ObservedEndpoint, ObservedModel, ObservedWorker
from .desired import DesiredState, EndpointSpec, ModelSpec
from .lifecycle import plugin_actions, uninstall_actions
from .states import ModelState
from ..util.redact import redact_url

__all__ = ["diff", "model_action"]

C, U, R, D, N = ActionKind.CREATE, ActionKind.UPDATE, ActionKind.REPLACE, ActionKind.DELETE, ActionKind.NOOP


def diff(desired: DesiredState, actual: ActualState) -> Plan:
    """What converge must do to turn ``actual`` into ``desired``; pure and deterministic."""
    actions = _endpoint_actions(desired, actual)
    actions += _package_actions(desired, actual)
    actions += _env_actions(desired, actual)
    actions += _model_actions(desired, actual)
    waits: list[float] = []
    by_plugin: dict[str, dict[int, ObservedWorker]] = {}
    for worker in actual.workers:
        by_plugin.setdefault(worker.plugin_id, {})[worker.index] = worker
    ready: dict[str, bool] = {}
    for plugin in desired.plugins:  # dependency order: a plugin's dependencies are decided before it
        actions += plugin_actions(desired, plugin, actual, by_plugin.get(plugin.id, {}), waits, ready)
    actions += _removals(desired, actual, by_plugin)
    actions += _unused_env_actions(actual, settled=_settled(desired, actual, actions))
    return Plan(tuple(actions), min(waits) if waits else None)


def _endpoint(spec: EndpointSpec) -> str:
    port = spec.port if spec.port is not None else f"auto {spec.port_range[0]}-{spec.port_range[1]}"
    return f"{spec.host}:{port}"


def _endpoint_action(unit: Literal["api", "proxy"], spec: EndpointSpec, seen: ObservedEndpoint | None) -> Action:
    if seen is None:
        return Action(C, unit, "", f"listen on {_endpoint(spec)}")
    if not spec.accepts(seen.host, seen.port):
        return Action(R, unit, "", f"{seen.host}:{seen.port} → {_endpoint(spec)}")
    return Action(N, unit, "", f"listening on {seen.host}:{seen.port}")


def _endpoint_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    api = _endpoint_action("api", desired.api, actual.api)
    if api.kind is N and actual.api_hash != desired.api_hash:
        api = Action(U, "api", "", "daemon settings changed (max_body_bytes, [metrics] or [autotune])")
    proxy = _endpoint_action("proxy", desired.proxy.endpoint, actual.proxy)
    actions = [api, proxy]
    if proxy.kind is N and actual.rules_hash != desired.proxy.rules_hash:
        n = len({s.plugin_id for s in desired.proxy.scripts})
        actions.append(Action(U, "rules", "", f"hot-swap rules of {n} plugin(s)"))
    return actions


def _package_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    actions = []
    for package in desired.packages:
        where = redact_url(package.source)
        others = [p for p in actual.packages if p.plugin_id == package.plugin_id]
        if package.path is not None:
            actions.append(Action(N, "package", package.plugin_id, f"{package.installed_version} installed"))
        elif others:
            wanted = f"sha256 {package.sha256[:12]}…" if package.sha256 else "the source's current content"
            actions.append(Action(U, "package", package.plugin_id,
                                  f"{others[-1].version} → {wanted} (from {where})"))
        else:
            actions.append(Action(C, "package", package.plugin_id, f"install from {where}"))
    return actions


def _env_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    actions = []
    for env in desired.envs:
        seen = actual.env(env.id)
        users = ", ".join(env.used_by)
        if seen is not None and seen.ready:
            actions.append(Action(N, "env", env.id, f"ready (for {users})"))
        elif seen is not None and seen.error:
            actions.append(Action(N, "env", env.id, f"failed: {seen.error.splitlines()[0][:100]} "
                                                    "(`aiplugs apply` retries)"))
        else:
            n = len(env.requirements)
            actions.append(Action(C, "env", env.id, f"install {n} requirement{'s' if n != 1 else ''} for {users}: "
                                                    f"{' '.join(env.requirements)}"))
    return actions


def _settled(desired: DesiredState, actual: ActualState, actions: list[Action]) -> bool:
    """Every running worker runs as declared (a worker waiting for its new environment still runs from the old
    one) and no worker or hook has anything left to do."""
    declared = {w.plugin_id: w.config_hash for w in desired.workers}
    return (all(declared.get(w.plugin_id) == w.config_hash for w in actual.workers if w.alive)
            and not any(a.type in ("worker", "hook") and a.kind is not N for a in actions))


def _unused_env_actions(actual: ActualState, *, settled: bool) -> list[Action]:
    """Environments no plugin of the desired state runs in go once every worker runs as desired (``settled``: a
    worker being replaced may still run from the old one) and no live process runs from them."""
    actions = []
    for env in actual.unused_envs:
        if env.used_by is not None:
            actions.append(Action(N, "env", env.id, f"unused, kept while pid {env.used_by} runs from it"))
        elif not settled:
            actions.append(Action(N, "env", env.id, "unused: removed once the workers run as declared"))
        else:
            actions.append(Action(D, "env", env.id, "no plugin runs in it any more"))
    return actions


def _wanted_now(desired: DesiredState, model: ModelSpec, actual: ActualState) -> bool:
    """A lazy model is pulled once a plugin using it was called, or someone asked for it."""
    if not model.lazy or model.filename in actual.pulls:
        return True
    return any(actual.plugin(p).demanded for p in model.used_by)


def _model_actions(desired: DesiredState, actual: ActualState) -> list[Action]:
    seen = {m.filename: m for m in actual.models}
    return [model_action(model, seen.get(model.filename) or ObservedModel(model.filename, ModelState.MISSING),
                         wanted=_wanted_now(desired, model, actual))
            for model in desired.models]


def model_action(model: ModelSpec, observed: ObservedModel, *, wanted: bool = True) -> Action:
    """What one model file needs: nothing, a verification of what is there, or a download."""
    state, name = observed.state, model.filename
    if state is ModelState.READY:
        return Action(N, "model", name, "verified")
    if state is ModelState.DOWNLOADING:
        return Action(N, "model", name, "download in progress")
    if not wanted:
        return Action(N, "model", name, "lazy: pulled on first call")
    if state is ModelState.MISSING:
        size = f", {model.size} bytes" if model.size is not None else ""
        return Action(C, "model", name, f"download from {redact_url(model.url)}{size}")
    if state is ModelState.UNVERIFIED:
        return Action(U, "model", name, "file present, verify sha256")
    held = f" (holds {observed.sha256[:12]}…)" if observed.sha256 else ""
    return Action(R, "model", name, f"sha256 differs from the manifest's{held}")


def _removals(desired: DesiredState, actual: ActualState, running: dict[str, dict[int, ObservedWorker]]
              ) -> list[Action]:
    """Routes and workers of plugins that are no longer enabled (or no longer local); then the uninstall hooks
    of removed plugins, then their packages."""
    actions = []

    def why(plugin_id: str) -> str:
        if plugin_id in desired.disabled:
            return "plugin disabled"
        return "plugin now in cloud mode" if desired.plugin(plugin_id) else "plugin removed"

    routed = {r.plugin_id for r in desired.routes}
    for route in sorted(actual.routes, key=lambda r: r.plugin_id):
        if route.plugin_id not in routed:
            actions.append(Action(D, "route", route.plugin_id, why(route.plugin_id)))
    wanted = {w.plugin_id for w in desired.workers}
    for plugin_id in sorted(set(running) - wanted):
        for index in sorted(running[plugin_id]):
            actions.append(Action(D, "worker", f"{plugin_id}#{index}", why(plugin_id)))
    actions += uninstall_actions(desired, actual)
    kept = {p.plugin_id for p in desired.packages} | set(desired.disabled)  # disabling keeps the package
    for plugin_id in sorted({p.plugin_id for p in actual.packages} - kept):
        actions.append(Action(D, "package", plugin_id, "no longer declared with a source"))
    return actions
