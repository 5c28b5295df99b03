"""The daemon: one long-running process that owns the router, the proxy and the worker pools.

It implements converge's ``System`` over the real adapters and the router's ``Controller`` (apply, status, down,
restart, pull). A level-triggered reconcile loop re-provisions deleted or corrupted models and keeps
``state.json`` current; worker restarts are the WorkerManager's own supervision. Run it with
``python -m aiplugs.daemon -c aiplugs.toml`` (what ``aiplugs apply`` does, detached) or in-process through
``aiplugs apply --foreground``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .codec import decode_desired
from .converge import ConvergeResult, converge
from .errors import AiplugsError
from .events import EventBus
from .plan import ActualState, ObservedEndpoint, ObservedRelay, ObservedWorker, diff
from .ports import pick_port
from .spec import DesiredState, EndpointSpec, ModelSpec, ProxySpec, WorkerSpec
from .state import DaemonRecord, EndpointRecord, StateFile, WorkerRecord, observe, read_state, update_state
from .status import Condition, build_status
from .tokens import PAGE_TOKEN_FILE, load_or_create_token

__all__ = ["Daemon", "main"]

log = logging.getLogger("aiplugs.daemon")
PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
MAX_MODEL_BACKOFF = 300.0


class Daemon:
    def __init__(self, desired: DesiredState, *, reconcile_interval: float = 2.0) -> None:
        self.desired = desired
        self.state_dir = desired.state_dir
        self.reconcile_interval = reconcile_interval
        self.events = EventBus()
        self.started_at = time.time()
        self.api: tuple[str, int] | None = None
        self.proxy_address: tuple[str, int] | None = None
        self.rules_hash: str | None = None
        self.relays: dict[str, str] = {}
        self.proxy: Any = None
        self._conditions: dict[str, Condition] = {}
        self._model_retry: dict[str, tuple[float, float]] = {}  # filename -> (not before, backoff)
        self._lazy_locks: dict[str, asyncio.Lock] = {}
        self._stop: asyncio.Event | None = None
        self._apply_lock: asyncio.Lock | None = None
        self._last_recorded: Any = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def run(self, on_ready: Callable[[Daemon], Any] | None = None) -> None:
        """Starts the router, then serves until SIGTERM/SIGINT or ``down``; stops everything on the way out."""
        from filelock import FileLock, Timeout

        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(str(self.state_dir / LOCK_FILE))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            pid = _read_pid(self.state_dir)
            raise AiplugsError(f"a daemon already runs for {self.state_dir} (pid {pid}); `aiplugs down` stops it")
        try:
            await self._serve(on_ready)
        finally:
            (self.state_dir / PID_FILE).unlink(missing_ok=True)
            lock.release()

    async def _serve(self, on_ready: Callable[[Daemon], Any] | None) -> None:
        from .models import ModelStore
        from .router import RouterContext, RouterServer
        from .workers import WorkerManager

        self._stop = asyncio.Event()
        self._apply_lock = asyncio.Lock()
        admin_token = load_or_create_token(self.state_dir)
        self.page_token = load_or_create_token(self.state_dir, PAGE_TOKEN_FILE)
        self.store = ModelStore(self.desired.models_dir, self.state_dir, events=self.events, progress=False)
        self.workers = WorkerManager(self.state_dir, events=self.events)
        self.ctx = RouterContext(desired=self.desired, workers=self.workers, events=self.events,
                                 admin_token=admin_token, page_token=self.page_token, control=self,
                                 before_call=self._before_call, state=self._observed_state)
        self.router = RouterServer(self.ctx)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        reconcile: asyncio.Task | None = None
        try:
            await self.ensure_api(self.desired.api)
            (self.state_dir / PID_FILE).write_text(f"{os.getpid()}\n")
            await self._record_state(force=True)
            self.events.publish("router.started", host=self.api[0], port=self.api[1])
            log.info("aiplugs daemon %s: api on %s:%s", os.getpid(), *self.api)
            reconcile = asyncio.create_task(self._reconcile_loop(), name="aiplugs-reconcile")
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if reconcile is not None:
                reconcile.cancel()
            await self._shutdown()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _shutdown(self) -> None:
        self.events.publish("daemon.stopping", pid=os.getpid())
        log.info("stopping")
        if self.proxy is not None:
            await _quietly(self.proxy.stop())
            self.events.publish("proxy.stopped")
        await _quietly(self.workers.close())
        await _quietly(self.router.stop())

        def clear(state: StateFile) -> None:
            state.daemon = state.api = state.proxy = state.rules_hash = None
            state.workers, state.relays = {}, {}

        await asyncio.to_thread(update_state, self.state_dir, clear)

    # ---- converge's System -----------------------------------------------------------------------------------

    async def ensure_api(self, spec: EndpointSpec) -> None:
        if self.api is not None and spec.accepts(*self.api):
            return
        previous = read_state(self.state_dir).api
        port = pick_port(spec, previous.port if previous else None)
        if self.api is not None:
            await self.router.stop()
        await self.router.start(spec.host, port)
        self.api = (spec.host, port)
        if self.proxy is not None:
            self.proxy.update(self.desired.proxy, api_address=self.api)

    async def ensure_proxy(self, spec: ProxySpec) -> None:
        from .proxy import ProxyServer

        if self.proxy is not None and self.proxy_address and spec.endpoint.accepts(*self.proxy_address):
            self.swap_rules(spec)
            return
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy, self.proxy_address = None, None
        previous = read_state(self.state_dir).proxy
        avoid = frozenset({self.api[1]}) if self.api else frozenset()
        port = pick_port(spec.endpoint, previous.port if previous else None, avoid)
        proxy = ProxyServer(spec, confdir=self.state_dir / "ca", api_address=self.api, page_token=self.page_token,
                            events=self.events)
        await proxy.start(spec.endpoint.host, port)
        self.proxy, self.proxy_address, self.rules_hash = proxy, (spec.endpoint.host, port), spec.rules_hash
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

    # ---- applying --------------------------------------------------------------------------------------------

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

    async def apply_desired(self, desired: DesiredState) -> ConvergeResult:
        assert self._apply_lock is not None, "the daemon is not running"
        async with self._apply_lock:
            plan = diff(desired, self.actual(desired))
            self.events.publish("apply.planned", summary=plan.summary(), changes=[str(a) for a in plan.changes])
            self.desired = desired
            self.ctx.desired = desired
            result = await converge(plan, desired, self, self.events)
            self._set_condition("Converged", result.ok, "converged" if result.ok else
                                "; ".join(f"{f.unit}: {f.error}" for f in result.failures))
            await self._record_state(force=True)
            return result

    async def _before_call(self, plugin_id: str) -> None:
        """Lazy plugins: pull their models and start their pool on the first call; everyone else waits on it."""
        spec = next((w for w in self.desired.workers if w.plugin_id == plugin_id), None)
        if spec is None or spec.count == 0:
            return
        pool = self.workers.snapshot().get(plugin_id)
        if pool is not None and pool.ready > 0 and pool.config_hash == spec.config_hash:
            return
        async with self._lazy_locks.setdefault(plugin_id, asyncio.Lock()):
            pool = self.workers.snapshot().get(plugin_id)
            if pool is not None and pool.ready > 0 and pool.config_hash == spec.config_hash:
                return
            models = [m for m in self.desired.models if m.filename in spec.models]
            await asyncio.gather(*(self.store.ensure(m) for m in models))
            await self.workers.ensure(spec, wait=True)
            await self._record_state()

    # ---- the router's Controller -----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        desired = self.desired
        states = {m.filename: self.store.status(m) for m in desired.models}
        sizes = {}
        for m in desired.models:
            try:
                sizes[m.filename] = m.path.stat().st_size
            except OSError:
                sizes[m.filename] = None
        self._set_condition("RouterAnswering", self.api is not None, f"listening on {_fmt(self.api)}")
        wants_proxy = self.proxy is not None or self.rules_hash is not None
        if wants_proxy:
            self._set_condition("ProxyListening", self.proxy_address is not None,
                                f"listening on {_fmt(self.proxy_address)}")
        relay_problem = None
        if desired.relays and not desired.cloud.base_url:
            relay_problem = "cloud.base_url is not set (env CLOUD_BASE_URL or [cloud] base_url)"
        return build_status(
            desired,
            daemon={"pid": os.getpid(), "started_at": self.started_at,
                    "uptime_s": round(time.time() - self.started_at, 1)},
            api=self.api, proxy=self.proxy_address,
            ca_cert=str(self.proxy.ca_cert_path) if self.proxy is not None else None,
            pools=self.workers.snapshot(), model_states=states, model_sizes=sizes,
            conditions=list(self._conditions.values()), relay_problem=relay_problem,
        )

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        desired = decode_desired(body)
        if desired.state_dir != self.state_dir:
            raise AiplugsError(f"this daemon serves {self.state_dir}, not {desired.state_dir}")
        result = await self.apply_desired(desired)
        return {**result.to_dict(), "status": await self.status()}

    async def down(self) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, self.stop)
        return {"ok": True, "pid": os.getpid()}

    async def restart(self, plugin_id: str) -> dict[str, Any]:
        await self.workers.restart(plugin_id)
        await self._record_state()
        return {"ok": True, "plugin": plugin_id}

    async def pull_models(self, keys: list[str]) -> dict[str, Any]:
        chosen = [m for m in self.desired.models if not keys or m.filename in keys or set(m.keys) & set(keys)]
        paths = await self.store.pull(chosen)
        return {"ok": True, "paths": [str(p) for p in paths]}

    def _observed_state(self) -> dict[str, Any]:
        state = read_state(self.state_dir)
        data = state.model_dump(mode="json")
        return {"observed": data, "desired": self.desired.to_dict()}

    # ---- reconcile loop --------------------------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_interval)
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile failed")

    async def reconcile_once(self) -> None:
        """Level-triggered: whatever drifted since the last look is put back (models); state.json follows pids."""
        assert self._apply_lock is not None
        if self._apply_lock.locked():
            return
        async with self._apply_lock:
            now = time.monotonic()
            records = read_state(self.state_dir).models
            for model in self.desired.models:
                if model.lazy and model.filename not in records:
                    continue  # never pulled: the first call will
                if self.store.status(model) == "ready":
                    self._model_retry.pop(model.filename, None)
                    continue
                not_before, backoff = self._model_retry.get(model.filename, (0.0, 1.0))
                if now < not_before:
                    continue
                log.info("model %s drifted (%s): re-provisioning", model.filename, self.store.status(model))
                try:
                    await self.store.ensure(model)
                    self._model_retry.pop(model.filename, None)
                except Exception as e:
                    log.warning("re-provisioning %s failed: %s", model.filename, e)
                    self._model_retry[model.filename] = (now + backoff, min(backoff * 2, MAX_MODEL_BACKOFF))
            await self._record_state()

    # ---- state.json ------------------------------------------------------------------------------------------

    async def _record_state(self, force: bool = False) -> None:
        snapshot = self.workers.snapshot()
        workers = {pid: WorkerRecord(config_hash=pool.config_hash, pids=list(pool.pids))
                   for pid, pool in snapshot.items()}
        record = (self.api, self.proxy_address, self.rules_hash, sorted(self.relays.items()),
                  sorted((k, v.config_hash, tuple(v.pids)) for k, v in workers.items()))
        if not force and record == self._last_recorded:
            return
        self._last_recorded = record
        ca_cert = str(self.proxy.ca_cert_path) if self.proxy is not None else None

        def change(state: StateFile) -> None:
            state.daemon = DaemonRecord(pid=os.getpid(), started_at=self.started_at, command=" ".join(sys.argv))
            state.api = EndpointRecord(host=self.api[0], port=self.api[1]) if self.api else None
            state.proxy = EndpointRecord(host=self.proxy_address[0], port=self.proxy_address[1]) \
                if self.proxy_address else None
            state.rules_hash = self.rules_hash
            state.ca_cert = ca_cert or state.ca_cert
            state.workers = workers
            state.relays = dict(self.relays)

        await asyncio.to_thread(update_state, self.state_dir, change)

    def _set_condition(self, kind: str, ok: bool, reason: str) -> None:
        current = self._conditions.get(kind)
        if current is None or current.ok != ok or current.reason != reason:
            since = current.since if current is not None and current.ok == ok else time.time()
            self._conditions[kind] = Condition(kind, ok, reason, since)


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "nothing"


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception:
        log.exception("error while stopping")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached daemon: ``python -m aiplugs.daemon -c aiplugs.toml``."""
    from .errors import ConfigError
    from .spec import load_desired_state

    parser = argparse.ArgumentParser(prog="aiplugs-daemon", description="The aiplugs daemon (started by apply).")
    parser.add_argument("-c", "--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _, desired = load_desired_state(args.config)
        asyncio.run(Daemon(desired).run())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except AiplugsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
