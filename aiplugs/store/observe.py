"""What runs, as far as state.json and cheap checks tell (pids alive, model files unchanged by stat): the
ActualState ``aiplugs plan`` diffs against when it does not ask the daemon (packages: the installs on disk).
Never hashes, never connects."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..declaration.packages import installed_packages
from ..plan import (ActualState, DesiredState, ModelState, ObservedEndpoint, ObservedEnv, ObservedHooks, ObservedModel,
                    ObservedPackage)
from ..plan import ObservedRoute, ObservedWorker
from ..util.procs import pid_alive
from .envs import env_ready, unused_envs
from .state import ModelRecord, StateFile

__all__ = ["model_state", "observe"]


def model_state(path: Path, record: ModelRecord | None, sha256: str) -> ModelState:
    """The state of a model file by its stat and its record alone."""
    try:
        stat = os.stat(path)
    except OSError:
        return ModelState.MISSING
    if record is None or not record.matches_file(stat):
        return ModelState.UNVERIFIED
    return ModelState.READY if record.sha256 == sha256 else ModelState.CORRUPT


def observe(state: StateFile, desired: DesiredState, now: float | None = None) -> ActualState:
    models = tuple(
        ObservedModel(m.filename, model_state(m.path, state.models.get(m.filename), m.sha256),
                      state.models[m.filename].sha256 if m.filename in state.models else None)
        for m in desired.models)
    packages = tuple(ObservedPackage(p.plugin_id, p.version, p.sha256)
                     for p in installed_packages(desired.state_dir))
    envs = tuple(ObservedEnv(e.id, env_ready(e)) for e in desired.envs)
    unused = unused_envs(desired.state_dir, [*(e.id for e in desired.envs), *desired.kept_envs])
    hooks = tuple(ObservedHooks(pid, installed=r.installed, uninstall=r.uninstall, files_present=Path(r.entry).is_file())
                  for pid, r in sorted(state.hooks.items()))
    now = time.time() if now is None else now
    if state.daemon is None or not pid_alive(state.daemon.pid):
        return ActualState(models=models, packages=packages, envs=envs, unused_envs=unused, hooks=hooks, now=now)
    return ActualState(
        daemon_pid=state.daemon.pid,
        api=ObservedEndpoint(state.api.host, state.api.port) if state.api else None,
        api_hash=state.api_hash,
        proxy=ObservedEndpoint(state.proxy.host, state.proxy.port) if state.proxy else None,
        rules_hash=state.rules_hash,
        models=models,
        workers=tuple(
            ObservedWorker(plugin_id, index, pid, pid is not None if record.backend == "ray" else pid_alive(pid),
                           record.config_hash)
            for plugin_id, record in state.workers.items()
            for index, pid in enumerate(record.pids)
        ),
        routes=tuple(ObservedRoute(plugin_id, h) for plugin_id, h in state.routes.items()),
        packages=packages,
        envs=envs,
        unused_envs=unused,
        hooks=hooks,
        now=now,
    )
