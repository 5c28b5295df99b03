"""A plugin's one-shot lifecycle hooks as converge's doers, with their record in state.json.

``install(ctx)`` runs once per plugin version before its first worker starts; its record (the version, and how to
run the plugin's ``uninstall`` later) goes to state.json. ``uninstall(ctx)`` runs when the plugin has left the
declaration, before its package is deleted, from that record — the plugin's spec is gone by then. A failed hook is
remembered (the plan holds the plugin, status shows the hook and its last lines) until an apply or a restart asks
to try again.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ..plan import ObservedHooks, WorkerSpec
from ..plan.workers import CACHE_DIR, DATA_DIR
from ..store.state import HookRecord, StateDamaged, StateFile, read_state, update_state

__all__ = ["observe_hooks", "remember_hooks", "run_install_hook", "run_uninstall_hook"]


def _record(spec: WorkerSpec, installed: str | None) -> HookRecord:
    return HookRecord(installed=installed, uninstall="uninstall" in spec.hooks, version=spec.version,
                      entry=str(spec.entry), plugin_dir=str(spec.plugin_dir),
                      python=str(spec.python) if spec.python else None, timeout_s=spec.hooks_timeout_s)


async def remember_hooks(system: Any, spec: WorkerSpec) -> None:
    """After a worker of ``spec`` started: keep how to run its uninstall hook (the install record stays)."""
    if "uninstall" not in spec.hooks and "install" not in spec.hooks:
        return
    current = read_state(system.state_dir).hooks.get(spec.plugin_id)
    wanted = _record(spec, current.installed if current else None)
    if current == wanted:
        return

    def change(state: StateFile) -> None:
        seen = state.hooks.get(spec.plugin_id)
        state.hooks[spec.plugin_id] = _record(spec, seen.installed if seen else None)

    await asyncio.to_thread(update_state, system.state_dir, change)


async def run_install_hook(system: Any, spec: WorkerSpec) -> None:
    from ..adapters.workers import HookFailed

    try:
        await system.workers.run_hook(spec, "install")
    except HookFailed as e:
        system.hook_failures[spec.plugin_id] = ObservedHooks(spec.plugin_id, failed_hook="install",
                                                             error=str(e), tail=e.tail)
        raise
    system.hook_failures.pop(spec.plugin_id, None)

    def change(state: StateFile) -> None:
        state.hooks[spec.plugin_id] = _record(spec, spec.version)

    await asyncio.to_thread(update_state, system.state_dir, change)


async def run_uninstall_hook(system: Any, plugin_id: str) -> None:
    """Runs the removed plugin's uninstall hook while its files are still there (nothing to run when they are
    gone or it defines none), then drops its record."""
    from ..adapters.workers import HookFailed

    record = read_state(system.state_dir).hooks.get(plugin_id)
    if record is not None and record.uninstall and Path(record.entry).is_file():
        try:
            await system.workers.run_hook(_spec_from(system.state_dir, plugin_id, record), "uninstall")
        except HookFailed as e:
            system.hook_failures[plugin_id] = ObservedHooks(plugin_id, failed_hook="uninstall", error=str(e),
                                                            tail=e.tail)
            raise
    system.hook_failures.pop(plugin_id, None)

    def change(state: StateFile) -> None:
        state.hooks.pop(plugin_id, None)

    await asyncio.to_thread(update_state, system.state_dir, change)


def _spec_from(state_dir: Path, plugin_id: str, record: HookRecord) -> WorkerSpec:
    data_dir, cache_dir = state_dir / DATA_DIR / plugin_id, state_dir / CACHE_DIR / plugin_id
    env = {"AIPLUGS_PLUGIN_ID": plugin_id, "AIPLUGS_PLUGIN_VERSION": record.version,
           "AIPLUGS_PLUGIN_DIR": record.plugin_dir, "AIPLUGS_DATA_DIR": str(data_dir),
           "AIPLUGS_CACHE_DIR": str(cache_dir), "AIPLUGS_SETTINGS": "{}", "AIPLUGS_MODELS": json.dumps({})}
    python = Path(record.python) if record.python else None
    return WorkerSpec(plugin_id, 0, Path(record.entry), Path(record.plugin_dir), tuple(sorted(env.items())), (),
                      (), record.timeout_s, "uninstall", python=python if python and python.exists() else None,
                      version=record.version, data_dir=data_dir, cache_dir=cache_dir, hooks=("uninstall",),
                      hooks_timeout_s=record.timeout_s)


def observe_hooks(system: Any) -> tuple[ObservedHooks, ...]:
    """The records in state.json, with the failures this daemon remembers (a damaged state.json, which the next
    pass repairs, shows none)."""
    try:
        records = read_state(system.state_dir).hooks
    except StateDamaged:
        records = {}
    seen = []
    for plugin_id in sorted(set(records) | set(system.hook_failures)):
        record = records.get(plugin_id)
        failure = system.hook_failures.get(plugin_id)
        seen.append(ObservedHooks(
            plugin_id,
            installed=record.installed if record else None,
            uninstall=record.uninstall if record else False,
            files_present=Path(record.entry).is_file() if record else False,
            failed_hook=failure.failed_hook if failure else None,
            error=failure.error if failure else None,
            tail=failure.tail if failure else ()))
    return tuple(seen)
