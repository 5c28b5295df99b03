"""RunningSystem: the real adapters a daemon drives — router, proxy, model store, workers — behind converge's
``System`` doers, plus what they observe (``observe``) and record in state.json (``record_state``).

It owns effects and nothing else: what to do is ``plan.diff``'s decision, when to look again the reconciler's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..adapters.ports import pick_port
from ..declaration.packages import installed_packages
from ..errors import AiplugsError
from ..events import EventBus
from ..events.catalogue import PLUGIN_STATE, PROXY_RULES_SWAPPED, PROXY_STARTED, PROXY_STOPPED, ROUTE_CHANGED
from ..plan import (ActualState, DesiredState, EndpointSpec, EnvSpec, ModelSpec, ObservedEndpoint, ObservedEnv,
                    ObservedHooks, ObservedModel, ObservedPackage, ObservedPlugin, ObservedRoute, PackageSpec,
                    ProxySpec, Route, RouteSpec, WorkerSpec)
from ..store.envs import env_ready, unused_envs
from ..store.state import (DaemonRecord, EndpointRecord, StateDamaged, StateFile, WorkerRecord, read_state,
                           update_state)
from .hooks import observe_hooks, remember_hooks, run_install_hook, run_uninstall_hook

__all__ = ["RunningSystem"]

log = logging.getLogger(__name__)


class RunningSystem:
    def __init__(self, *, state_dir: Path, models_dir: Path, config_path: Path, events: EventBus, admin_token: str,
                 page_token: str, control: Any, on_change: Callable[[], None],
                 started_at: float | None = None) -> None:
        from ..adapters.models import ModelStore
        from ..adapters.plugin_events import PluginEvents
        from ..adapters.router import RouterContext, RouterServer
        from ..adapters.dispatch import WorkerDispatcher
        from ..adapters.workers import WorkerManager

        def ray_backend() -> Any:  # built when the first plugin on Ray starts: no Ray without one
            from ..adapters.ray import RayBackend

            return RayBackend(state_dir, models_dir=models_dir, events=events)

        self.state_dir = state_dir
        self.events = events
        self.page_token = page_token
        self.started_at = started_at or time.time()
        self.store = ModelStore(models_dir, state_dir, events=events)
        self.config_path = config_path  # aiplugs.lock lives beside it
        # processes here, or replicas on Ray: the dispatcher routes each plugin to the backend its spec names
        self.workers = WorkerDispatcher(WorkerManager(state_dir, events=events, on_change=on_change),
                                        ray_factory=ray_backend)
        self.plugin_events = PluginEvents(self.workers.deliver, self.workers.wait_serving, events=events)
        self.workers.on_publish = lambda plugin_id, topic, data: self.plugin_events.emit(topic, data,
                                                                                              source=plugin_id)
        events.listen(self._system_event)
        self.ctx = RouterContext(workers=self.workers, events=events, admin_token=admin_token,
                                 page_token=page_token, control=control, demand=control.demand,
                                 plugin_events=self.plugin_events)
        self.router = RouterServer(self.ctx)
        self.proxy: Any = None
        self.api: tuple[str, int] | None = None
        self.api_hash: str | None = None
        self.proxy_address: tuple[str, int] | None = None
        self.rules_hash: str | None = None
        self.routes: dict[str, str] = {}  # plugin id -> route config hash
        self.env_failures: dict[str, ObservedEnv] = {}  # env id -> its last failed build, until an apply retries
        self.hook_failures: dict[str, ObservedHooks] = {}  # plugin id -> its last failed install/uninstall hook
        self._last_recorded: Any = None
        self._desired: DesiredState | None = None  # the last one observed against

    @functools.cached_property
    def packages(self) -> Any:  # a PackageStore; tarfile and the archive code load with the first install
        from ..adapters.packages import PackageStore

        return PackageStore(self.state_dir)

    @property
    def ca_cert(self) -> str | None:
        return str(self.proxy.ca_cert_path) if self.proxy is not None else None

    # ---- converge's System: one doer per action kind --------------------------------------------------------

    async def start_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None:
        port = pick_port(spec, read_state(self.state_dir).last_ports.get("api"))
        self.ctx.max_body_bytes = max_body_bytes
        await self.router.start(spec.host, port)
        self.api, self.api_hash = (spec.host, port), settings_hash
        if self.proxy is not None:
            self.proxy.update(self.proxy.spec, api_address=self.api)

    async def restart_api(self, spec: EndpointSpec, max_body_bytes: int, settings_hash: str) -> None:
        await self.router.stop()
        self.api = None
        await self.start_api(spec, max_body_bytes, settings_hash)

    async def configure_api(self, max_body_bytes: int, settings_hash: str) -> None:
        """New daemon settings: the router's body limit here; [metrics] and [autotune] are read from the desired
        state the daemon now holds."""
        self.ctx.max_body_bytes = max_body_bytes
        self.api_hash = settings_hash

    async def start_proxy(self, spec: ProxySpec) -> None:
        from ..adapters.proxy import ProxyServer, ca_dir

        avoid = frozenset({self.api[1]}) if self.api else frozenset()
        port = pick_port(spec.endpoint, read_state(self.state_dir).last_ports.get("proxy"), avoid)
        proxy = await asyncio.to_thread(  # compiling the rules takes a while with thousands of patterns
            ProxyServer, spec, confdir=ca_dir(self.state_dir), api_address=self.api, page_token=self.page_token,
            events=self.events)
        await proxy.start(spec.endpoint.host, port)
        self.proxy, self.proxy_address, self.rules_hash = proxy, (spec.endpoint.host, port), spec.rules_hash
        self.ctx.proxy = proxy
        self.events.publish(PROXY_STARTED, host=spec.endpoint.host, port=port)

    async def restart_proxy(self, spec: ProxySpec) -> None:
        await self._stop_proxy()
        await self.start_proxy(spec)

    async def swap_rules(self, spec: ProxySpec) -> None:
        if self.proxy is None:
            raise AiplugsError("the proxy is not running")
        await self.proxy.swap(spec, api_address=self.api)
        self.rules_hash = spec.rules_hash
        self.events.publish(PROXY_RULES_SWAPPED, plugins=sorted({s.plugin_id for s in spec.scripts}))

    async def install_package(self, package: PackageSpec) -> None:
        from .installs import install  # the package installer loads when a package is installed

        await install(self, package)

    async def remove_package(self, plugin_id: str) -> None:
        from .installs import remove

        await remove(self, plugin_id)

    async def create_env(self, env: EnvSpec) -> None:
        from ..adapters.envs import EnvError, build_env

        try:
            await build_env(env, self.state_dir, environ=self.workers.parent_env)
        except EnvError as e:
            self.env_failures[env.id] = ObservedEnv(env.id, False, str(e), e.tail)
            raise
        self.env_failures.pop(env.id, None)

    async def remove_env(self, env_id: str) -> None:
        from ..adapters.envs import remove_env

        await asyncio.to_thread(remove_env, self.state_dir, env_id)
        self.env_failures.pop(env_id, None)

    def forget_failures(self, plugin_id: str | None = None) -> None:
        """Someone asked to try again (apply: everything; restart: one plugin): crash-loop history and failed
        environment builds are forgotten. (An environment shared with other plugins is retried for them too.)"""
        self.workers.forget_failures(plugin_id)
        if plugin_id is None:
            self.env_failures.clear()
            self.hook_failures.clear()
        else:
            spec = self._desired.worker(plugin_id) if self._desired is not None else None
            if spec is not None and spec.python_env:
                self.env_failures.pop(spec.python_env, None)
            self.hook_failures.pop(plugin_id, None)

    async def download_model(self, model: ModelSpec) -> None:
        await self.store.download(model)

    async def verify_model(self, model: ModelSpec) -> None:
        from ..adapters.models import ModelError

        result = await self.store.verify(model)
        if not result.ok:
            held = f"holds sha256 {result.actual_sha256}" if result.actual_sha256 else "is gone"
            raise ModelError(f"{model.filename} {held}, the manifest wants {model.sha256}; it is downloaded again")

    async def start_worker(self, spec: WorkerSpec, index: int) -> None:
        await self.workers.start(spec, index)
        await remember_hooks(self, spec)

    async def restart_worker(self, spec: WorkerSpec, index: int) -> None:
        await self.workers.restart(spec, index)
        await remember_hooks(self, spec)

    async def run_install_hook(self, spec: WorkerSpec) -> None:
        await run_install_hook(self, spec)

    async def run_uninstall_hook(self, plugin_id: str) -> None:
        await run_uninstall_hook(self, plugin_id)

    async def stop_worker(self, plugin_id: str, index: int) -> None:
        await self.workers.stop(plugin_id, index)

    async def set_route(self, route: RouteSpec) -> None:
        self.ctx.set_route(route)
        self.routes[route.plugin_id] = route.config_hash
        self.events.publish(ROUTE_CHANGED, plugin_id=route.plugin_id,
                            route=(Route.CLOUD if route.relay else Route.LOCAL).value)

    async def remove_route(self, plugin_id: str) -> None:
        self.ctx.remove_route(plugin_id)
        self.routes.pop(plugin_id, None)
        self.events.publish(ROUTE_CHANGED, plugin_id=plugin_id, route=Route.NONE.value)

    # ---- observing and recording -----------------------------------------------------------------------------

    def observe(self, desired: DesiredState, *, demanded: set[str], restarts: set[str],
                pulls: set[str]) -> ActualState:
        """What runs now, from the live adapters, plus what people and pages asked for. (The event
        subscriptions follow ``desired`` here, before any worker of this pass starts.)"""
        self._desired = desired
        self.ctx.desired = desired  # /api/state, /metrics and the masking of secret settings read it
        self.plugin_events.set_plugins(desired.plugins)
        records = read_state(self.state_dir).models
        models = [ObservedModel(m.filename, self.store.status(m), records[m.filename].sha256
                                if m.filename in records else None) for m in desired.models]
        workers, history = self.workers.observe()
        seen = {h.plugin_id: h for h in history}
        plugins = tuple(
            dataclasses.replace(seen.get(p, ObservedPlugin(p)), demanded=p in demanded, restart_requested=p in restarts)
            for p in sorted(set(seen) | demanded | restarts))
        return ActualState(
            daemon_pid=os.getpid(),
            api=ObservedEndpoint(*self.api) if self.api else None,
            api_hash=self.api_hash,
            proxy=ObservedEndpoint(*self.proxy_address) if self.proxy_address else None,
            rules_hash=self.rules_hash,
            models=tuple(models),
            workers=workers,
            plugins=plugins,
            routes=tuple(ObservedRoute(k, v) for k, v in self.routes.items()),
            packages=tuple(ObservedPackage(p.plugin_id, p.version, p.sha256) for p in installed_packages(self.state_dir)),
            envs=self.observe_envs(desired),
            unused_envs=unused_envs(self.state_dir, [*(e.id for e in desired.envs), *desired.kept_envs]),
            hooks=observe_hooks(self),
            now=time.time(),
            pulls=frozenset(pulls),
        )

    def _system_event(self, event: dict[str, Any]) -> None:
        """A plugin's state change is also a system event plugins can subscribe to: aiplugs/plugin.<state>."""
        if event["type"] == PLUGIN_STATE:
            data = event["data"]
            self.plugin_events.system(f"plugin.{data['state']}", {"plugin_id": data["plugin_id"],
                                                                  "reason": data["reason"]})

    def observe_envs(self, desired: DesiredState) -> tuple[ObservedEnv, ...]:
        return tuple(ObservedEnv(e.id, True) if env_ready(e) else self.env_failures.get(e.id, ObservedEnv(e.id, False))
                     for e in desired.envs)

    async def record_state(self, force: bool = False) -> None:
        """Writes ports, pids and hashes to state.json (atomically, under its lock) when they changed; a damaged
        file is replaced: the daemon's own record must stay findable."""
        workers: dict[str, WorkerRecord] = {}
        for worker in self.workers.observe()[0]:
            record = workers.setdefault(worker.plugin_id, WorkerRecord(
                config_hash=worker.config_hash, backend=self.workers.backend_of(worker.plugin_id)))
            record.pids.extend([None] * (worker.index + 1 - len(record.pids)))
            record.pids[worker.index] = worker.pid
        snapshot = (self.api, self.api_hash, self.proxy_address, self.rules_hash, sorted(self.routes.items()),
                    sorted((k, v.config_hash, tuple(v.pids)) for k, v in workers.items()))
        if not force and snapshot == self._last_recorded and await asyncio.to_thread(self._record_intact):
            return
        self._last_recorded = snapshot
        ca_cert = self.ca_cert

        def change(state: StateFile) -> None:
            state.daemon = DaemonRecord(pid=os.getpid(), started_at=self.started_at, command=" ".join(sys.argv))
            state.api = EndpointRecord(host=self.api[0], port=self.api[1]) if self.api else None
            state.api_hash = self.api_hash
            state.proxy = EndpointRecord(host=self.proxy_address[0], port=self.proxy_address[1]) \
                if self.proxy_address else None
            state.rules_hash = self.rules_hash
            state.ca_cert = ca_cert or state.ca_cert
            state.workers = workers
            state.routes = dict(self.routes)
            if self.api:
                state.last_ports["api"] = self.api[1]
            if self.proxy_address:
                state.last_ports["proxy"] = self.proxy_address[1]

        await asyncio.to_thread(update_state, self.state_dir, change, recover=True)

    def _record_intact(self) -> bool:
        """state.json still names this daemon (someone may have damaged or replaced it)."""
        try:
            daemon = read_state(self.state_dir).daemon
        except StateDamaged:
            return False
        return daemon is not None and daemon.pid == os.getpid()

    # ---- stopping --------------------------------------------------------------------------------------------

    async def _stop_proxy(self) -> None:
        if self.proxy is None:
            return
        proxy, self.proxy, self.proxy_address, self.ctx.proxy = self.proxy, None, None, None
        await proxy.stop()
        self.events.publish(PROXY_STOPPED)

    async def close(self) -> None:
        """Stops proxy, workers and router (each even if another fails) and records that nothing runs (the last
        ports stay, as preferences for the next daemon)."""
        await _quietly(self._stop_proxy())
        await _quietly(self.plugin_events.close())
        await _quietly(self._stop_dependents_first())
        await _quietly(self.workers.close())
        await _quietly(self.router.stop())

        def clear(state: StateFile) -> None:
            state.daemon = state.api = state.proxy = state.rules_hash = state.api_hash = None
            state.workers, state.routes = {}, {}

        await asyncio.to_thread(update_state, self.state_dir, clear, recover=True)


    async def _stop_dependents_first(self) -> None:
        """Workers stop in reverse dependency order (a plugin before the plugins it needs), one level of the
        dependency graph at a time, each level's pools together."""
        if self._desired is None:
            return
        depth: dict[str, int] = {}
        for plugin in self._desired.plugins:  # dependency order: dependencies are seen first
            depth[plugin.id] = 1 + max((depth.get(d, -1) for d in plugin.dependencies), default=-1)
        running = {(w.plugin_id, w.index) for w in self.workers.observe()[0] if w.pid is not None}
        for level in sorted(set(depth.values()), reverse=True):
            await asyncio.gather(*(self.workers.stop(pid, index) for pid, index in sorted(running)
                                   if depth.get(pid) == level), return_exceptions=True)


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception:
        log.exception("error while stopping")
