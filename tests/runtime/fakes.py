"""A fake running system for converge and the reconciler: plain data that the System doers change, so its
observation reflects every call made to it — the way the daemon's RunningSystem reflects its adapters.

Every call is recorded in order (``keys``: "start_worker word-count#0"; ``calls``: the method and its arguments);
``fail`` makes chosen calls raise (and leave the world unchanged), ``delay`` makes every call sleep, and ``trace``
records when each call began and ended (to see what ran concurrently).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from aiplugs.plan import (ActualState, DesiredState, EndpointSpec, EnvSpec, ModelSpec, ModelState, ObservedEndpoint,
                          ObservedEnv, ObservedModel, ObservedPackage, ObservedPlugin, ObservedRoute, ObservedWorker,
                          PackageSpec, ProxySpec, RouteSpec, UnusedEnv, WorkerSpec)


class FakeWorkers:
    """The part of the WorkerManager the reconciler uses."""

    def __init__(self, system: FakeSystem) -> None:
        self.system = system
        self.forgotten: list[str | None] = []

    def forget_failures(self, plugin_id: str | None = None) -> None:
        self.forgotten.append(plugin_id)
        for pid, history in list(self.system.history.items()):
            if plugin_id is None or pid == plugin_id:
                self.system.history[pid] = dataclasses.replace(history, failures=())

    def observe(self) -> tuple[tuple[ObservedWorker, ...], tuple[ObservedPlugin, ...]]:
        return tuple(self.system.slots[k] for k in sorted(self.system.slots)), tuple(self.system.history.values())

    def serving(self, plugin_id: str) -> bool:
        return any(w.alive for (p, _), w in self.system.slots.items() if p == plugin_id)


class FakeSystem:
    def __init__(self, *, fail: dict[str, str] | None = None, delay: float = 0.0, corrupt: set[str] | None = None,
                 now: float | None = None) -> None:
        self.fail = dict(fail or {})  # key -> error message of the exception that call raises
        self.delay = delay
        self.corrupt = set(corrupt or ())  # model files a verify finds holding other bytes
        self.now = time.time() if now is None else now  # the fake clock observe() reports
        self.keys: list[str] = []
        self.calls: list[tuple[Any, ...]] = []
        self.trace: list[str] = []
        self.observations = 0
        self.recorded = 0
        self.api: tuple[str, int] | None = None
        self.api_hash: str | None = None
        self.proxy: tuple[str, int] | None = None
        self.rules_hash: str | None = None
        self.models: dict[str, ModelState] = {}
        self.slots: dict[tuple[str, int], ObservedWorker] = {}
        self.history: dict[str, ObservedPlugin] = {}
        self.routes: dict[str, str] = {}
        self.envs: dict[str, ObservedEnv] = {}
        self.packages: dict[str, ObservedPackage] = {}
        self.workers = FakeWorkers(self)
        self._pids = iter(range(1000, 100000))

    # ---- bookkeeping -----------------------------------------------------------------------------------------

    async def _do(self, key: str, method: str, *args: Any) -> None:
        self.keys.append(key)
        self.calls.append((method, *args))
        self.trace.append(f"begin {key}")
        if self.delay:
            await asyncio.sleep(self.delay)
        self.trace.append(f"end {key}")
        if key in self.fail:
            raise RuntimeError(self.fail[key])

    def _fail_start(self, spec: WorkerSpec, index: int, message: str) -> None:
        self.slots[spec.plugin_id, index] = ObservedWorker(spec.plugin_id, index, None, False, spec.config_hash,
                                                           exit_code=1)
        self._failure(spec.plugin_id, message)

    def _failure(self, plugin_id: str, message: str, at: float | None = None) -> None:
        seen = self.history.get(plugin_id, ObservedPlugin(plugin_id))
        self.history[plugin_id] = dataclasses.replace(
            seen, failures=(*seen.failures, self.now if at is None else at), last_error=message)

    def kill(self, plugin_id: str, index: int, *, at: float | None = None) -> None:
        """A worker dies by itself (SIGKILL), recorded as a failure at ``at`` (default: the fake now)."""
        seen = self.slots[plugin_id, index]
        self.slots[plugin_id, index] = dataclasses.replace(seen, pid=None, alive=False, exit_signal="SIGKILL")
        self._failure(plugin_id, f"worker {plugin_id}#{index} killed by SIGKILL", at)

    def _started(self, spec: WorkerSpec, index: int) -> None:
        seen = self.history.get(spec.plugin_id, ObservedPlugin(spec.plugin_id))
        if (spec.plugin_id, index) in self.slots:
            self.history[spec.plugin_id] = dataclasses.replace(seen, restarts=seen.restarts + 1)
        else:
            self.history.setdefault(spec.plugin_id, seen)
        self.slots[spec.plugin_id, index] = ObservedWorker(spec.plugin_id, index, next(self._pids), True,
                                                           spec.config_hash)

    # ---- converge's System -----------------------------------------------------------------------------------

    async def start_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None:
        await self._do("start_api", "start_api", spec, max_body_bytes)
        self.api = (spec.host, spec.port or spec.port_range[0])
        self.api_hash = settings_hash

    async def restart_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None:
        await self._do("restart_api", "restart_api", spec, max_body_bytes)
        self.api = (spec.host, spec.port or spec.port_range[0])
        self.api_hash = settings_hash

    async def configure_api(self, max_body_bytes: int, settings_hash: str) -> None:
        await self._do("configure_api", "configure_api", max_body_bytes)
        self.api_hash = settings_hash

    async def start_proxy(self, spec: ProxySpec) -> None:
        await self._do("start_proxy", "start_proxy", spec)
        self.proxy, self.rules_hash = (spec.endpoint.host, spec.endpoint.port or spec.endpoint.port_range[0]), \
            spec.rules_hash

    async def restart_proxy(self, spec: ProxySpec) -> None:
        await self._do("restart_proxy", "restart_proxy", spec)
        self.proxy, self.rules_hash = (spec.endpoint.host, spec.endpoint.port or spec.endpoint.port_range[0]), \
            spec.rules_hash

    async def swap_rules(self, spec: ProxySpec) -> None:
        await self._do("swap_rules", "swap_rules", spec)
        self.rules_hash = spec.rules_hash

    async def install_package(self, package: PackageSpec) -> None:
        await self._do(f"install_package {package.plugin_id}", "install_package", package)
        self.packages[package.plugin_id] = ObservedPackage(package.plugin_id, "1.0.0", package.sha256 or "0" * 64)

    async def remove_package(self, plugin_id: str) -> None:
        await self._do(f"remove_package {plugin_id}", "remove_package", plugin_id)
        self.packages.pop(plugin_id, None)

    async def create_env(self, env: EnvSpec) -> None:
        try:
            await self._do(f"create_env {env.id}", "create_env", env)
        except RuntimeError as e:
            self.envs[env.id] = ObservedEnv(env.id, False, str(e), ("pip says no",))
            raise
        self.envs[env.id] = ObservedEnv(env.id, True)

    async def remove_env(self, env_id: str) -> None:
        await self._do(f"remove_env {env_id}", "remove_env", env_id)
        self.envs.pop(env_id, None)

    async def run_install_hook(self, spec: WorkerSpec) -> None:
        await self._do(f"install_hook {spec.plugin_id}", "run_install_hook", spec)

    async def run_uninstall_hook(self, plugin_id: str) -> None:
        await self._do(f"uninstall_hook {plugin_id}", "run_uninstall_hook", plugin_id)

    def forget_failures(self, plugin_id: str | None = None) -> None:
        self.workers.forget_failures(plugin_id)
        self.envs = {k: v for k, v in self.envs.items() if v.ready}

    async def download_model(self, model: ModelSpec) -> None:
        await self._do(f"download_model {model.filename}", "download_model", model)
        self.models[model.filename] = ModelState.READY
        self.corrupt.discard(model.filename)

    async def verify_model(self, model: ModelSpec) -> None:
        await self._do(f"verify_model {model.filename}", "verify_model", model)
        if model.filename in self.corrupt:
            self.models[model.filename] = ModelState.CORRUPT
            raise RuntimeError(f"{model.filename} holds other bytes")
        self.models[model.filename] = ModelState.READY

    async def start_worker(self, spec: WorkerSpec, index: int) -> None:
        key = f"start_worker {spec.plugin_id}#{index}"
        try:
            await self._do(key, "start_worker", spec, index)
        except RuntimeError as e:
            self._fail_start(spec, index, str(e))
            raise
        self._started(spec, index)

    async def restart_worker(self, spec: WorkerSpec, index: int) -> None:
        key = f"restart_worker {spec.plugin_id}#{index}"
        try:
            await self._do(key, "restart_worker", spec, index)
        except RuntimeError as e:
            self._fail_start(spec, index, str(e))
            raise
        self._started(spec, index)

    async def stop_worker(self, plugin_id: str, index: int) -> None:
        await self._do(f"stop_worker {plugin_id}#{index}", "stop_worker", plugin_id, index)
        self.slots.pop((plugin_id, index), None)

    async def set_route(self, route: RouteSpec) -> None:
        await self._do(f"set_route {route.plugin_id}", "set_route", route)
        self.routes[route.plugin_id] = route.config_hash

    async def remove_route(self, plugin_id: str) -> None:
        await self._do(f"remove_route {plugin_id}", "remove_route", plugin_id)
        self.routes.pop(plugin_id, None)

    # ---- what the reconciler uses besides the doers ----------------------------------------------------------

    def observe(self, desired: DesiredState, *, demanded: set[str] = frozenset(), restarts: set[str] = frozenset(),
                pulls: set[str] = frozenset()) -> ActualState:
        self.observations += 1
        plugins = tuple(
            dataclasses.replace(self.history.get(p, ObservedPlugin(p)), demanded=p in demanded,
                                restart_requested=p in restarts)
            for p in sorted(set(self.history) | set(demanded) | set(restarts)))
        return ActualState(
            daemon_pid=1,
            api=ObservedEndpoint(*self.api) if self.api else None, api_hash=self.api_hash,
            proxy=ObservedEndpoint(*self.proxy) if self.proxy else None, rules_hash=self.rules_hash,
            models=tuple(ObservedModel(m.filename, self.models.get(m.filename, ModelState.MISSING))
                         for m in desired.models),
            workers=self.workers.observe()[0], plugins=plugins,
            routes=tuple(ObservedRoute(k, v) for k, v in self.routes.items()),
            packages=tuple(self.packages.values()),
            envs=tuple(self.envs.get(e.id, ObservedEnv(e.id, False)) for e in desired.envs),
            unused_envs=tuple(UnusedEnv(i) for i, e in sorted(self.envs.items())
                              if e.ready and i not in {d.id for d in desired.envs} | set(desired.kept_envs)),
            now=self.now, pulls=frozenset(pulls))

    async def record_state(self, force: bool = False) -> None:
        self.recorded += 1
