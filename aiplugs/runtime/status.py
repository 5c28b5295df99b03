"""The status report: one JSON shape for ``aiplugs status --json``, ``/api/status`` and the notebook.

Building it is pure (the daemon passes in what it observed); formatting it for a terminal lives here too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from ..plan import DesiredState

__all__ = ["Condition", "EXIT_DEGRADED", "EXIT_HEALTHY", "EXIT_NO_DAEMON", "build_status", "exit_code",
           "format_status", "pac_url"]

STATUS_FORMAT_VERSION = "1"
EXIT_HEALTHY, EXIT_DEGRADED, EXIT_NO_DAEMON = 0, 3, 4
PluginState = Literal["ready", "starting", "degraded", "failed", "disabled"]


@dataclass(frozen=True)
class Condition:
    type: str  # e.g. "ProxyListening", "RouterAnswering", "WorkersReady", "ModelsReady", "Converged"
    ok: bool
    reason: str
    since: float


def build_status(
    desired: DesiredState,
    *,
    daemon: Mapping[str, Any],
    api: tuple[str, int] | None,
    proxy: tuple[str, int] | None,
    ca_cert: str | None,
    pools: Mapping[str, Any],  # plugin id -> PoolStatus (aiplugs.adapters.workers)
    model_states: Mapping[str, str],  # filename -> missing | ready | corrupt | downloading | unverified
    model_sizes: Mapping[str, int | None],
    conditions: list[Condition],
    relay_problem: str | None,
) -> dict[str, Any]:
    plugins = []
    for plugin in desired.plugins:
        row: dict[str, Any] = {"id": plugin.id, "name": plugin.name, "version": plugin.version, "mode": plugin.mode,
                               "provision": plugin.provision}
        if plugin.mode == "local":
            pool = pools.get(plugin.id)
            spec = next((w for w in desired.workers if w.plugin_id == plugin.id), None)
            desired_count = spec.count if spec else 0
            if pool is None:
                state: PluginState = "ready" if desired_count == 0 else "starting"
                if plugin.provision == "lazy" and desired_count:
                    state = "ready"  # started on the first call
                row.update(state=state, workers_desired=desired_count, workers_ready=0, worker_pids=[],
                           restarts=0, last_error=None, requests=0, errors=0, p50_ms=None)
            else:
                row.update(state=pool.state, workers_desired=desired_count, workers_ready=pool.ready,
                           worker_pids=[p for p in pool.pids if p], restarts=pool.restarts,
                           last_error=pool.last_error, requests=pool.requests,
                           errors=pool.errors, p50_ms=pool.latency_p50_ms)
        else:
            row.update(state="degraded" if relay_problem else "ready", workers_desired=0, workers_ready=0,
                       worker_pids=[], restarts=0, last_error=relay_problem)
        plugins.append(row)
    for plugin_id in desired.disabled:
        plugins.append({"id": plugin_id, "mode": None, "state": "disabled", "workers_desired": 0,
                        "workers_ready": 0, "worker_pids": [], "restarts": 0, "last_error": None})
    models = [{"key": m.keys[0], "keys": list(m.keys), "filename": m.filename, "path": str(m.path),
               "size": model_sizes.get(m.filename), "state": model_states.get(m.filename, "missing"),
               "used_by": list(m.used_by), "lazy": m.lazy} for m in desired.models]
    healthy = (
        all(c.ok for c in conditions)
        and all(p["state"] in ("ready", "disabled") for p in plugins)
        and all(m["state"] == "ready" or m["lazy"] for m in models)
    )
    return {
        "format_version": STATUS_FORMAT_VERSION,
        "healthy": healthy,
        "daemon": dict(daemon),
        "api": {"host": api[0], "port": api[1]} if api else None,
        "proxy": {"host": proxy[0], "port": proxy[1]} if proxy else None,
        "ca_cert": ca_cert,
        "pac_url": pac_url(api) if api and proxy else None,
        "config": str(desired.config_path),
        "plugins": plugins,
        "models": models,
        "conditions": [{"type": c.type, "ok": c.ok, "reason": c.reason, "since": c.since} for c in conditions],
    }


def pac_url(api: tuple[str, int]) -> str:
    host = f"[{api[0]}]" if ":" in api[0] else api[0]
    return f"http://{host}:{api[1]}/proxy.pac"


def exit_code(status: Mapping[str, Any] | None) -> int:
    if status is None:
        return EXIT_NO_DAEMON
    return EXIT_HEALTHY if status.get("healthy") else EXIT_DEGRADED


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = int(time.time() - ts)
    if seconds < 120:
        return f"{seconds}s"
    return f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


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


def _addr(endpoint: Mapping[str, Any] | None) -> str:
    return f"{endpoint['host']}:{endpoint['port']}" if endpoint else "-"
