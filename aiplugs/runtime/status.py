"""The status report: one JSON shape for ``aiplugs status --json``, ``/api/status``, the notebook and the
dashboard. Building it is pure: the daemon passes in what it observed; the states come from ``plan.states``.
Formatting it for a terminal (``aiplugs status``, the notebook's text repr) lives here too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..plan import (DesiredState, ModelState, ObservedEnv, ObservedHooks, ObservedPlugin, ObservedWorker, PluginSpec,
                    PluginState)
from ..plan.policy import restart_decision

__all__ = ["Condition", "EXIT_DEGRADED", "EXIT_HEALTHY", "EXIT_NO_DAEMON", "STATUS_FORMAT_VERSION", "Observed",
           "build_status", "exit_code", "format_status", "pac_url", "plugin_state", "plugin_states"]

STATUS_FORMAT_VERSION = "2"
EXIT_HEALTHY, EXIT_DEGRADED, EXIT_NO_DAEMON = 0, 3, 4


@dataclass(frozen=True)
class Condition:
    type: str  # e.g. "ProxyListening", "RouterAnswering", "Converged"
    ok: bool
    reason: str
    since: float


@dataclass(frozen=True)
class Observed:
    """Everything the daemon saw, as plain values."""

    daemon: Mapping[str, Any]
    api: tuple[str, int] | None
    proxy: tuple[str, int] | None
    ca_cert: str | None
    workers: tuple[ObservedWorker, ...]
    plugins: tuple[ObservedPlugin, ...]
    stats: Mapping[str, Mapping[str, Any]]  # plugin id -> call counters (WorkerManager.stats)
    models: Mapping[str, ModelState]
    model_sizes: Mapping[str, int | None]
    conditions: tuple[Condition, ...]
    now: float
    envs: Mapping[str, ObservedEnv] = field(default_factory=dict)  # env id -> as observed
    hooks: Mapping[str, ObservedHooks] = field(default_factory=dict)  # plugin id -> its hooks' record/failure
    events: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # subscriber -> queued/delivered/dropped
    # plugins with workers = {min, max}: range, the autoscaler's count and the reason of its last change
    scaling: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_UNAVAILABLE = (PluginState.FAILED, PluginState.STOPPED, PluginState.BLOCKED)


def plugin_state(desired: DesiredState, plugin: PluginSpec, workers: list[ObservedWorker],
                 history: ObservedPlugin, now: float, env: ObservedEnv | None = None,
                 hooks: ObservedHooks | None = None, needs: tuple[str, ...] = ()) -> PluginState:
    """``env``: the plugin's Python environment as observed, when it has one; ``hooks``: its hooks' record;
    ``needs``: the plugins it depends on that are failed, stopped or blocked themselves."""
    if plugin.mode == "cloud":
        return PluginState.DEGRADED if not desired.cloud.base_url else PluginState.READY
    spec = desired.worker(plugin.id)
    count = spec.count if spec is not None else 0
    ready = sum(1 for w in workers if w.alive)
    if count == 0:
        return PluginState.STOPPED
    broken = (env is not None and not env.ready and env.error) or (
        hooks is not None and hooks.failed_hook == "install" and hooks.error)
    if broken:  # workers still running serve the previous version
        return PluginState.DEGRADED if ready else PluginState.FAILED
    if ready >= count:
        return PluginState.READY
    if needs and ready == 0:
        return PluginState.BLOCKED
    if history.failed_hook and ready == 0:  # init raised or hung: failed (retried with backoff all the same)
        return PluginState.FAILED
    if restart_decision(history.failures, now).give_up:
        return PluginState.FAILED
    if not workers and plugin.provision == "lazy":
        return PluginState.IDLE
    return PluginState.STARTING if ready == 0 else PluginState.DEGRADED


def plugin_states(desired: DesiredState, workers: tuple[ObservedWorker, ...], plugins: tuple[ObservedPlugin, ...],
                  now: float, envs: Mapping[str, ObservedEnv], hooks: Mapping[str, ObservedHooks]
                  ) -> dict[str, tuple[PluginState, tuple[str, ...]]]:
    """Every plugin's state, in dependency order (a plugin is blocked by what its dependencies are), with the
    dependencies that block it."""
    states: dict[str, tuple[PluginState, tuple[str, ...]]] = {}
    for plugin in desired.plugins:
        spec = desired.worker(plugin.id)
        env = envs.get(spec.python_env) if spec is not None and spec.python_env else None
        needs = tuple(d for d in plugin.dependencies if d in states and states[d][0] in _UNAVAILABLE)
        history = next((p for p in plugins if p.plugin_id == plugin.id), ObservedPlugin(plugin.id))
        state = plugin_state(desired, plugin, [w for w in workers if w.plugin_id == plugin.id], history, now, env,
                             hooks.get(plugin.id), needs)
        states[plugin.id] = (state, needs if state is PluginState.BLOCKED else ())
    return states


def _plugin_row(desired: DesiredState, plugin: PluginSpec, seen: Observed, state: PluginState,
                needs: tuple[str, ...]) -> dict[str, Any]:
    workers = [w for w in seen.workers if w.plugin_id == plugin.id]
    history = next((p for p in seen.plugins if p.plugin_id == plugin.id), ObservedPlugin(plugin.id))
    stats = seen.stats.get(plugin.id) or {}
    spec = desired.worker(plugin.id)
    env = seen.envs.get(spec.python_env) if spec is not None and spec.python_env else None
    hooks = seen.hooks.get(plugin.id)
    last_error, tail = history.last_error, history.stderr_tail
    if plugin.mode == "cloud" and state is PluginState.DEGRADED:
        last_error = "cloud.base_url is not set (env CLOUD_BASE_URL or [cloud] base_url)"
    if env is not None and env.error and not env.ready:
        last_error, tail = f"Python environment {env.id}: {env.error}", env.error_tail
    elif hooks is not None and hooks.failed_hook == "install" and hooks.error:
        last_error, tail = hooks.error, hooks.tail
    elif needs:
        last_error = f"blocked: needs {', '.join(needs)}"
    return {
        "id": plugin.id, "name": plugin.name, "version": plugin.version, "mode": plugin.mode,
        "provision": plugin.provision, "state": state.value,
        "workers_desired": spec.count if spec is not None else 0,
        "workers_ready": sum(1 for w in workers if w.alive),
        "worker_pids": [w.pid for w in workers if w.alive and w.pid],
        "restarts": history.restarts, "last_error": last_error,
        "stderr_tail": list(tail) if state is not PluginState.READY else [],
        "python_env": spec.python_env if spec is not None else None,
        "needs": list(needs),
        "requests": stats.get("requests", 0), "errors": stats.get("errors", 0), "p50_ms": stats.get("p50_ms"),
        "events": dict(seen.events[plugin.id]) if plugin.id in seen.events else None,  # as a subscriber
        "autoscale": dict(seen.scaling[plugin.id]) if plugin.id in seen.scaling else None,
        # where its workers run ("process", "ray: local", "ray: ray://head:10001"), and Ray's replica states
        "runs_on": (spec.ray.where if spec.ray is not None else "process") if spec is not None else None,
        "replicas": stats.get("replicas"),
    }


def build_status(desired: DesiredState, seen: Observed) -> dict[str, Any]:
    states = plugin_states(desired, seen.workers, seen.plugins, seen.now, seen.envs, seen.hooks)
    plugins = [_plugin_row(desired, plugin, seen, *states[plugin.id]) for plugin in desired.plugins]
    plugins += [{"id": pid, "mode": None, "state": PluginState.DISABLED.value, "workers_desired": 0,
                 "workers_ready": 0, "worker_pids": [], "restarts": 0, "last_error": None, "stderr_tail": [],
                 "python_env": None, "needs": []}
                for pid in desired.disabled]
    models = [{"key": m.keys[0], "keys": list(m.keys), "filename": m.filename, "path": str(m.path),
               "size": seen.model_sizes.get(m.filename),
               "state": seen.models.get(m.filename, ModelState.MISSING).value,
               "used_by": list(m.used_by), "lazy": m.lazy} for m in desired.models]
    healthy = (
        all(c.ok for c in seen.conditions)
        and all(PluginState(p["state"]).healthy for p in plugins)
        and all(m["state"] == ModelState.READY.value or m["lazy"] for m in models)
    )
    api, proxy = seen.api, seen.proxy
    return {
        "format_version": STATUS_FORMAT_VERSION,
        "healthy": healthy,
        "daemon": dict(seen.daemon),
        "api": {"host": api[0], "port": api[1]} if api else None,
        "proxy": {"host": proxy[0], "port": proxy[1]} if proxy else None,
        "ca_cert": seen.ca_cert,
        "pac_url": pac_url(api) if api and proxy else None,
        "config": str(desired.config_path),
        "plugins": plugins,
        "models": models,
        "conditions": [{"type": c.type, "ok": c.ok, "reason": c.reason, "since": c.since}
                       for c in seen.conditions],
    }


def pac_url(api: tuple[str, int]) -> str:
    host = f"[{api[0]}]" if ":" in api[0] else api[0]
    return f"http://{host}:{api[1]}/proxy.pac"


def exit_code(status: Mapping[str, Any] | None) -> int:
    if status is None:
        return EXIT_NO_DAEMON
    return EXIT_HEALTHY if status.get("healthy") else EXIT_DEGRADED


TAIL_SHOWN = 5


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = int(time.time() - ts)
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def _addr(endpoint: Mapping[str, Any] | None) -> str:
    return f"{endpoint['host']}:{endpoint['port']}" if endpoint else "-"


def format_status(status: Mapping[str, Any]) -> str:
    d = status["daemon"]
    lines = [
        f"daemon   pid {d.get('pid')}, up {_ago(d.get('started_at'))}, "
        f"{'healthy' if status['healthy'] else 'NOT healthy'}",
        f"api      {_addr(status.get('api'))}",
        f"proxy    {_addr(status.get('proxy'))}",
        f"pac      {status.get('pac_url') or '-'}",
        f"ca cert  {status.get('ca_cert') or '-'}",
        "",
        f"{'PLUGIN':<20} {'MODE':<6} {'STATE':<9} {'WORKERS':<8} {'RESTARTS':<8} LAST ERROR",
    ]
    for p in status["plugins"]:
        workers = f"{p['workers_ready']}/{p['workers_desired']}" if p.get("mode") == "local" else "-"
        error = (p.get("last_error") or "").splitlines()[0][:60] if p.get("last_error") else ""
        lines.append(f"{p['id']:<20} {p.get('mode') or '-':<6} {p['state']:<9} {workers:<8} "
                     f"{p.get('restarts', 0):<8} {error}")
        tail = p.get("stderr_tail") or []
        lines += [f"    | {line}" for line in tail[-TAIL_SHOWN:]]
        if (p.get("runs_on") or "").startswith("ray"):
            states: dict[str, int] = {}
            for replica in p.get("replicas") or []:
                states[replica["state"].lower()] = states.get(replica["state"].lower(), 0) + 1
            replicas = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no replicas"
            lines.append(f"    on {p['runs_on']}: {replicas}")
        if p.get("autoscale"):
            scale = p["autoscale"]
            lines.append(f"    autoscaled {scale['min']}-{scale['max']}: {scale['count']} ({scale['reason']})")
    if status["models"]:
        lines += ["", f"{'MODEL':<32} {'STATE':<12} {'SIZE':>10}  PATH"]
        for m in status["models"]:
            size = "-" if m.get("size") is None else str(m["size"])
            lines.append(f"{m['filename']:<32} {m['state']:<12} {size:>10}  {m['path']}")
    bad = [c for c in status["conditions"] if not c["ok"]]
    if bad:
        lines += ["", "conditions:"]
        lines += [f"  {c['type']}: {c['reason']} (since {_ago(c['since'])} ago)" for c in bad]
    return "\n".join(lines)
