"""RunningSystem: the real adapters a daemon drives — router, proxy, model store, worker pools — behind converge's
``System`` interface, plus what they observe (``actual``) and record (``record_state``).

It owns effects and nothing else: deciding what to do is ``plan``'s job; when to do it is the daemon's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from typing import Any

from ..errors import AiplugsError
from ..events import EventBus
from ..plan import ActualState, ObservedEndpoint, ObservedRelay, ObservedWorker
from ..adapters.ports import pick_port
from ..plan import DesiredState, EndpointSpec, ModelSpec, ProxySpec, WorkerSpec
from ..store.state import DaemonRecord, EndpointRecord, StateFile, WorkerRecord, observe, read_state, update_state

__all__ = ["RunningSystem"]

log = logging.getLogger("aiplugs.runtime.system")


class RunningSystem:
    def __init__(self, desired: DesiredState, *, events: EventBus, admin_token: str, page_token: str,
                 control: Any, started_at: float | None = None) -> None:
        from ..adapters.models import ModelStore
        from ..adapters.router import RouterContext, RouterServer
        from ..adapters.workers import WorkerManager

        self.desired = desired
        self.state_dir = desired.state_dir
        self.events = events
        self.page_token = page_token
        self.started_at = started_at or time.time()
        self.store = ModelStore(desired.models_dir, self.state_dir, events=events, progress=False)
        self.workers = WorkerManager(self.state_dir, events=events)
        self.ctx = RouterContext(desired=desired, workers=self.workers, events=events, admin_token=admin_token,
                                 page_token=page_token, control=control, before_call=self.ensure_lazy,
                                 state=self.observed_state)
        self.router = RouterServer(self.ctx)
        self.proxy: Any = None
        self.api: tuple[str, int] | None = None
        self.proxy_address: tuple[str, int] | None = None
        self.rules_hash: str | None = None
        self.relays: dict[str, str] = {}
        self._lazy_locks: dict[str, asyncio.Lock] = {}
        self._last_recorded: Any = None

    def set_desired(self, desired: DesiredState) -> None:
        self.desired = desired
        self.ctx.desired = desired

    @property
    def ca_cert(self) -> str | None:
        return str(self.proxy.ca_cert_path) if self.proxy is not None else None

    # ---- converge's System -----------------------------------------------------------------------------------

    async def ensure_api(self, spec: EndpointSpec) -> None:
        if self.api is not None and spec.accepts(*self.api):
            return
        port = pick_port(spec, read_state(self.state_dir).last_ports.get("api"))
        if self.api is not None:
            await self.router.stop()
        await self.router.start(spec.host, port)
        self.api = (spec.host, port)
        if self.proxy is not None:
            self.proxy.update(self.desired.proxy, api_address=self.api)

    async def ensure_proxy(self, spec: ProxySpec) -> None:
        from ..adapters.proxy import ProxyServer, ca_dir

        if self.proxy is not None and self.proxy_address and spec.endpoint.accepts(*self.proxy_address):
            self.swap_rules(spec)
            return
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy, self.proxy_address, self.ctx.proxy = None, None, None
        avoid = frozenset({self.api[1]}) if self.api else frozenset()
        port = pick_port(spec.endpoint, read_state(self.state_dir).last_ports.get("proxy"), avoid)
        proxy = ProxyServer(spec, confdir=ca_dir(self.state_dir), api_address=self.api, page_token=self.page_token,
                            events=self.events)
        await proxy.start(spec.endpoint.host, port)
        self.proxy, self.proxy_address, self.rules_hash = proxy, (spec.endpoint.host, port), spec.rules_hash
        self.ctx.proxy = proxy
        self.events.publish("proxy.started", host=spec.endpoint.host, port=port)

    def swap_rules(self, spec: ProxySpec) -> None:
        if self.proxy is None:
            raise AiplugsError("the proxy is not running")
        self.proxy.update(spec, api_address=self.api)
        self.rules_hash = spec.rules_hash
        self.events.publish("proxy.rules_swapped", plugins=sorted({s.plugin_id for s in spec.scripts}))

    async def ensure_model(self, model: ModelSpec) -> None:
        await self.store.ensure(model)

    async def ensure_pool(self, spec: WorkerSpec) -> None:
        await self.workers.ensure(spec, wait=True)

    async def remove_pool(self, plugin_id: str) -> None:
        await self.workers.remove(plugin_id)

    def set_relays(self, desired: DesiredState) -> None:
        self.relays = {r.plugin_id: r.config_hash for r in desired.relays}

    async def ensure_lazy(self, plugin_id: str) -> None:
        """Before a call: a lazy plugin's models are pulled and its pool started; concurrent callers wait on it.

        Eager plugins are apply's business (a failed pool stays failed until the next apply), so they pass."""
        plugin = self.desired.plugin(plugin_id)
        if plugin is None or plugin.provision != "lazy":
            return
        spec = next((w for w in self.desired.workers if w.plugin_id == plugin_id), None)
        if spec is None or spec.count == 0 or self.workers.serving(plugin_id, spec.config_hash):
            return
        async with self._lazy_locks.setdefault(plugin_id, asyncio.Lock()):
            if self.workers.serving(plugin_id, spec.config_hash):
                return
            models = [m for m in self.desired.models if m.filename in spec.models]
            await asyncio.gather(*(self.store.ensure(m) for m in models))
            await self.workers.ensure(spec, wait=True)
            await self.record_state()

    # ---- observing and recording -----------------------------------------------------------------------------

    def actual(self, desired: DesiredState) -> ActualState:
        """What runs now, from the live adapters (pids, endpoints) plus the model records on disk."""
        models = observe(read_state(self.state_dir), desired).models
        workers = []
        for plugin_id, pool in self.workers.snapshot().items():
            for index, pid in enumerate(pool.pids):
                alive = pid is not None and pool.state != "failed"
                workers.append(ObservedWorker(plugin_id, index, pid, alive, pool.config_hash))
        return ActualState(
            daemon_pid=os.getpid(),
            api=ObservedEndpoint(*self.api) if self.api else None,
            proxy=ObservedEndpoint(*self.proxy_address) if self.proxy_address else None,
            rules_hash=self.rules_hash,
            models=models,
            workers=tuple(workers),
            relays=tuple(ObservedRelay(k, v) for k, v in self.relays.items()),
        )

    def observed_state(self) -> dict[str, Any]:
        """For ``/api/state``: the recorded state and the desired state (secrets masked)."""
        return {"observed": read_state(self.state_dir).model_dump(mode="json"), "desired": self.desired.to_dict()}

    async def record_state(self, force: bool = False) -> None:
        """Writes ports, pids and hashes to state.json (atomically, under its lock) when they changed."""
        snapshot = self.workers.snapshot()
        workers = {pid: WorkerRecord(config_hash=pool.config_hash, pids=list(pool.pids))
                   for pid, pool in snapshot.items()}
        record = (self.api, self.proxy_address, self.rules_hash, sorted(self.relays.items()),
                  sorted((k, v.config_hash, tuple(v.pids)) for k, v in workers.items()))
        if not force and record == self._last_recorded:
            return
        self._last_recorded = record
        ca_cert = self.ca_cert

        def change(state: StateFile) -> None:
            state.daemon = DaemonRecord(pid=os.getpid(), started_at=self.started_at, command=" ".join(sys.argv))
            state.api = EndpointRecord(host=self.api[0], port=self.api[1]) if self.api else None
            state.proxy = EndpointRecord(host=self.proxy_address[0], port=self.proxy_address[1]) \
                if self.proxy_address else None
            state.rules_hash = self.rules_hash
            state.ca_cert = ca_cert or state.ca_cert
            state.workers = workers
            state.relays = dict(self.relays)
            if self.api:
                state.last_ports["api"] = self.api[1]
            if self.proxy_address:
                state.last_ports["proxy"] = self.proxy_address[1]

        await asyncio.to_thread(update_state, self.state_dir, change)

    # ---- stopping --------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stops proxy, workers and router (each even if another fails) and records that nothing runs (the last
        ports stay, as preferences for the next daemon)."""
        if self.proxy is not None:
            self.ctx.proxy = None
            await _quietly(self.proxy.stop())
            self.events.publish("proxy.stopped")
        await _quietly(self.workers.close())
        await _quietly(self.router.stop())

        def clear(state: StateFile) -> None:
            state.daemon = state.api = state.proxy = state.rules_hash = None
            state.workers, state.relays = {}, {}

        await asyncio.to_thread(update_state, self.state_dir, clear)


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception:
        log.exception("error while stopping")
