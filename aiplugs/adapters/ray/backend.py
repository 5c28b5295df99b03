"""RayBackend: the ``ray`` implementation of the worker backend seam — each plugin a Ray Serve application whose
replicas run its backend.py (replica.py), started, scaled and stopped when the plan says so.

The plan speaks in slots (``worker x#0``, ``x#1``); Serve in replica counts. A plugin's slots are the replicas it
asked for: ``start`` of a new slot raises the count, ``stop`` lowers it (Serve picks the replica that goes, after
its calls finished and its shutdown hook ran), the last ``stop`` deletes the application. Concurrent slot actions
of one pass become one deploy. ``restart`` of a slot that serves (a config change, ``aiplugs restart``) is a
rolling redeploy of the whole application — once for all slots asking at the same time; of a slot whose replica
died it only waits: Serve replaces dead replicas by itself, and the plan's backoff and crash-loop rules still see
each death (a replica that vanished while nobody changed the application is a failure in ``observe``).

``observe`` is synchronous and cheap: a poller reads the controller's replica details every ``poll_s`` seconds and
the plan reads the last snapshot. Slots map onto running replicas in start order; with ``workers = {min, max}``
Serve autoscales within the range and every slot serves while one replica does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from ...events import NULL_BUS, EventBus
from ...events.catalogue import WORKER_EXITED, WORKER_FAILED, WORKER_STARTED, WORKER_STARTING, WORKER_STOPPED
from ...plan import ObservedPlugin, ObservedWorker, WorkerSpec
from ...plan.placement import RAY_INSTALL, RayPlacement
from ..workers.errors import BackendError, HookFailed, NoSuchPool, WorkerError, WorkerTimeout, WorkerUnavailable
from ..workers.protocol import encode_json
from . import _serve
from .deployment import app_name, app_prefix, deployment_options, replica_config
from .instance import RayInstance
from .replica import FAILURE
from .reply import CallCounters, RayReply

__all__ = ["RayBackend"]

log = logging.getLogger(__name__)
HISTORY = 64


class _App:
    """One plugin's application: the slots it holds, what is deployed, what the poller saw, its history."""

    def __init__(self, spec: WorkerSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.wanted: set[int] = set()
        self.deployed_hash: str | None = None  # what runs; None: nothing, or its last deploy failed
        self.target = 0
        self.handle: Any = None
        self.lock = asyncio.Lock()  # one change of the application at a time
        self.deployed_at = float("-inf")  # monotonic start of the last (re)deploy
        self.view: _serve.AppView | None = None
        self.known: set[str] = set()  # running replicas last seen (one that vanishes by itself died)
        self.failures: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self.restarts = 0
        self.last_error: str | None = None
        self.failed_tail: tuple[str, ...] = ()
        self.failed_hook: str | None = None
        self.counters = CallCounters()
        self.snapshot = 0  # the poller's snapshot last applied (an older one arriving late is dropped)

    @property
    def autoscaled(self) -> bool:
        return self.spec.count_range is not None

    @property
    def running(self) -> tuple[_serve.ReplicaView, ...]:
        return self.view.running if self.view is not None and self.deployed_hash is not None else ()

    def serving(self) -> bool:
        return self.handle is not None and bool(self.running)

    def slots(self) -> list[tuple[int, _serve.ReplicaView | None]]:
        running = self.running
        placed = []
        for k, index in enumerate(sorted(self.wanted)):
            replica = running[k] if k < len(running) else (running[0] if self.autoscaled and running else None)
            placed.append((index, replica))
        return placed

    def fail(self, message: str, tail: tuple[str, ...] = (), hook: str | None = None) -> None:
        self.failures.append(time.time())
        self.last_error = message
        self.failed_tail = tail
        self.failed_hook = hook


class RayBackend:
    def __init__(self, state_dir: Path, *, models_dir: Path | None = None, events: EventBus = NULL_BUS,
                 instance: RayInstance | None = None, ready_timeout_s: float = 600.0, poll_s: float = 0.5,
                 on_change: Callable[[], None] = lambda: None, parent_env: Mapping[str, str] | None = None,
                 on_publish: Callable[[str, str, Any], None] = lambda plugin_id, topic, data: None) -> None:
        """``instance``: a Ray connection to use (and leave running on close); None: one is made from the first
        spec's placement and stopped (if aiplugs started it) on close. ``ready_timeout_s`` bounds a deploy
        (a pip runtime_env can take minutes)."""
        self.state_dir = Path(state_dir).absolute()
        self.models_dir = Path(models_dir).absolute() if models_dir is not None else self.state_dir.parent / "models"
        self.events = events
        self.instance = instance
        self._own_instance = instance is None
        self.ready_timeout_s = ready_timeout_s
        self.poll_s = poll_s
        self.on_change = on_change
        self.on_publish = on_publish
        self.parent_env = parent_env
        self.prefix = app_prefix(self.state_dir)
        self._apps: dict[str, _App] = {}
        self._poller: asyncio.Task[None] | None = None
        self._snapshots = 0
        self._swept = False

    # ---- the Ray connection ------------------------------------------------------------------------------------

    async def _connect(self, placement: RayPlacement) -> None:
        instance = self.instance
        if instance is not None and self._own_instance and not instance.matches(placement.address,
                                                                                 placement.local_cpus):
            log.info("Ray moves from %s to %s: its applications are stopped", instance.where, placement.where)
            await self._drop_all()
            await instance.stop()
            instance = None
        if instance is None:
            instance = self.instance = RayInstance(placement.address, num_cpus=placement.local_cpus)
        await instance.start()
        if not self._swept:  # applications of ours a previous daemon left on a cluster: not ours to keep
            self._swept = True
            stale = [name for name in await asyncio.to_thread(_serve.details, self.prefix)
                     if name not in {a.name for a in self._apps.values()}]
            await asyncio.gather(*(asyncio.to_thread(_serve.delete, name) for name in stale))
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="aiplugs-ray-poll")

    async def _reach(self, spec: WorkerSpec) -> None:
        """``_connect``, its failures as the worker error of the plugin that needed Ray."""
        assert spec.ray is not None
        try:
            await self._connect(spec.ray)
        except ImportError as e:
            raise WorkerUnavailable(f"plugin {spec.plugin_id!r} runs on Ray, which is not installed here ({e}): "
                                    f"{RAY_INSTALL}", plugin_id=spec.plugin_id) from None
        except Exception as e:
            raise WorkerUnavailable(f"plugin {spec.plugin_id!r}: cannot start or reach Ray ({spec.ray.where}): "
                                    f"{type(e).__name__}: {e}", plugin_id=spec.plugin_id) from None

    def _app(self, spec: WorkerSpec) -> _App:
        app = self._apps.get(spec.plugin_id)
        if app is None:
            app = self._apps[spec.plugin_id] = _App(spec, app_name(self.state_dir, spec.plugin_id))
        return app

    # ---- start / scale / stop ----------------------------------------------------------------------------------

    async def start(self, spec: WorkerSpec, index: int) -> None:
        await self._converge(spec, index, asked=None)

    async def restart(self, spec: WorkerSpec, index: int) -> None:
        await self._converge(spec, index, asked=time.monotonic())

    async def _converge(self, spec: WorkerSpec, index: int, asked: float | None) -> None:
        if spec.ray is None:
            raise ValueError(f"{spec.unit(index)} is not placed on Ray")
        app = self._app(spec)
        app.wanted.add(index)
        self.events.publish(WORKER_STARTING, plugin_id=spec.plugin_id, index=index)
        await asyncio.sleep(0)  # the other slot actions of this pass register first: one deploy for all
        started = time.monotonic()
        async with app.lock:
            app.spec = spec
            try:
                await self._reach(spec)
                alive = dict(app.slots()).get(index) is not None
                if asked is not None and app.deployed_at >= asked:
                    pass  # a redeploy began after this restart was asked for: it is this restart too
                elif app.deployed_hash != spec.config_hash or app.view is None or app.view.status == "DEPLOY_FAILED" \
                        or (asked is not None and alive):
                    await self._deploy(app, restart=asked is not None and app.deployed_hash is not None)
                elif not app.autoscaled and app.target != len(app.wanted):
                    await self._scale(app, len(app.wanted))
                await self._wait_running(app, started + self.ready_timeout_s)
            except WorkerError as e:
                app.fail(e.message, e.stderr_tail, getattr(e, "hook", None))
                self.events.publish(WORKER_FAILED, plugin_id=spec.plugin_id, index=index, error=e.message,
                                    stderr_tail=list(e.stderr_tail))
                raise
        app.failed_hook = None
        replica = dict(app.slots()).get(index)
        self.events.publish(WORKER_STARTED, plugin_id=spec.plugin_id, index=index,
                            pid=replica.pid if replica else None, ms=round((time.monotonic() - started) * 1000, 1),
                            restarts=app.restarts)

    async def _deploy(self, app: _App, restart: bool) -> None:
        spec = app.spec
        count = len(app.wanted)
        options = deployment_options(spec, count)
        config = replica_config(spec, models_dir=self.models_dir, state_dir=self.state_dir,
                                parent_env=self.parent_env)
        app.deployed_at = time.monotonic()
        if restart:
            app.restarts += 1
        try:
            await asyncio.wait_for(asyncio.to_thread(_serve.deploy, app.name, options, config), self.ready_timeout_s)
        except TimeoutError:
            app.deployed_hash = None
            raise WorkerTimeout(f"plugin {spec.plugin_id!r}: its Ray deployment did not become ready within "
                                f"{self.ready_timeout_s:g} s", plugin_id=spec.plugin_id) from None
        except Exception as e:
            app.deployed_hash = None
            await self._refresh()
            raise _start_error(spec, app.view, e) from None
        app.deployed_hash, app.target = spec.config_hash, count
        app.handle = await asyncio.to_thread(_serve.handle, app.name)
        await self._refresh(reset=app)

    async def _scale(self, app: _App, count: int) -> None:
        await asyncio.to_thread(_serve.scale, app.name, count)
        app.target = count
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:  # down: the extra replicas finish their calls and stop
            await self._refresh(reset=app)
            if app.view is not None and len(app.view.replicas) <= count:
                return
            await asyncio.sleep(0.1)

    async def _wait_running(self, app: _App, deadline: float) -> None:
        needed = 1 if app.autoscaled else len(app.wanted)
        while True:
            await self._refresh(reset=app)
            view = app.view
            if view is not None and view.status == "DEPLOY_FAILED":
                app.deployed_hash = None
                raise _start_error(app.spec, view, None)
            if view is not None and len(app.running) >= needed and view.status == "RUNNING":
                return
            if time.monotonic() > deadline:
                raise WorkerTimeout(f"plugin {app.spec.plugin_id!r}: {needed} replica(s) did not become ready "
                                    f"within {self.ready_timeout_s:g} s", plugin_id=app.spec.plugin_id)
            await asyncio.sleep(0.1)

    async def stop(self, plugin_id: str, index: int) -> None:
        app = self._apps.get(plugin_id)
        if app is None or index not in app.wanted:
            return
        pids = [r.pid for i, r in app.slots() if i == index and r is not None]
        app.wanted.discard(index)
        await asyncio.sleep(0)
        async with app.lock:
            if not app.wanted:
                app.deployed_hash, app.handle = None, None
                await asyncio.to_thread(_serve.delete, app.name)
                if not app.wanted:
                    self._apps.pop(plugin_id, None)
            elif not app.autoscaled and app.target != len(app.wanted):
                await self._scale(app, len(app.wanted))
        self.events.publish(WORKER_STOPPED, plugin_id=plugin_id, index=index, pid=pids[0] if pids else None)

    def forget_failures(self, plugin_id: str | None = None) -> None:
        for app in self._apps.values():
            if plugin_id is None or app.spec.plugin_id == plugin_id:
                app.failures.clear()

    async def _drop_all(self) -> None:
        apps, self._apps = list(self._apps.values()), {}
        await asyncio.gather(*(asyncio.to_thread(_serve.delete, app.name) for app in apps), return_exceptions=True)

    async def close(self) -> None:
        """Deletes this daemon's applications (their shutdown hooks run) and stops a Ray instance it started;
        a cluster it joined keeps running."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self.instance is None or not self.instance.started:
            self._apps.clear()
            return
        try:
            await self._drop_all()
        finally:
            if self._own_instance:
                await self.instance.stop()

    # ---- observing -------------------------------------------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            try:
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reading Ray Serve's replica details failed", exc_info=True)
            await asyncio.sleep(self.poll_s)

    async def _refresh(self, reset: _App | None = None) -> None:
        """Takes a new snapshot; replicas that vanished from an application nobody was changing died.
        ``reset``: the application being changed (its replicas come and go on purpose)."""
        self._snapshots += 1
        taken = self._snapshots
        views = await asyncio.to_thread(_serve.details, self.prefix)
        changed = False
        for app in list(self._apps.values()):
            if taken < app.snapshot:
                continue  # a newer snapshot was applied while this one was on its way
            app.snapshot = taken
            slots = {r.replica_id: index for index, r in app.slots() if r is not None}
            app.view = views.get(app.name)
            running = {r.replica_id for r in app.running}
            if app is not reset and not app.lock.locked() and app.deployed_hash is not None:
                for gone in sorted(app.known - running):
                    changed = True
                    self._died(app, gone, slots.get(gone, 0))
            app.known = running
        if changed:
            self.on_change()

    def _died(self, app: _App, replica_id: str, index: int) -> None:
        dead = next((r for r in app.view.dead if r.replica_id == replica_id), None) if app.view else None
        pid = dead.pid if dead is not None else None
        app.restarts += 1  # Serve replaces it by itself
        app.fail(f"{app.spec.unit(index)}: Ray replica {replica_id} (pid {pid}) died")
        self.events.publish(WORKER_EXITED, plugin_id=app.spec.plugin_id, index=index, pid=pid, code=None,
                            signal=None)

    def observe(self) -> tuple[tuple[ObservedWorker, ...], tuple[ObservedPlugin, ...]]:
        workers = tuple(ObservedWorker(app.spec.plugin_id, index, replica.pid if replica else None,
                                       replica is not None, app.spec.config_hash)
                        for app in self._apps.values() for index, replica in app.slots())
        history = tuple(ObservedPlugin(app.spec.plugin_id, tuple(app.failures), app.restarts, app.last_error,
                                       app.failed_tail, failed_hook=app.failed_hook) for app in self._apps.values())
        return workers, history

    def stats(self, plugin_id: str) -> dict[str, Any] | None:
        app = self._apps.get(plugin_id)
        if app is None:
            return None
        latencies = sorted(app.counters.latencies_ms)
        running = app.running
        return {"ready": len(running), "restarts": app.restarts, "requests": app.counters.requests,
                "errors": app.counters.errors, "last_error": app.last_error, "stderr_tail": list(app.failed_tail),
                "p50_ms": round(latencies[len(latencies) // 2], 3) if latencies else None,
                "pids": [r.pid for r in running if r.pid],
                "backend": app.spec.ray.where if app.spec.ray else "ray",
                "replicas": [{"id": r.replica_id, "state": r.state, "pid": r.pid, "node": r.node_id}
                             for r in (app.view.replicas if app.view else ())]}

    def has(self, plugin_id: str) -> bool:
        return plugin_id in self._apps

    def serving(self, plugin_id: str) -> bool:
        app = self._apps.get(plugin_id)
        return app is not None and app.serving()

    # ---- calls -------------------------------------------------------------------------------------------------

    async def request(self, plugin_id: str, payload: Any, *, timeout: float | None = None, op: str = "run",
                      client_id: str | None = None, tool: str | None = None) -> RayReply:
        """One call to a replica (Serve picks it); returns once its first answer arrived. WebSocket messages
        are not sticky to one replica on Ray."""
        return await self._open(plugin_id, {"op": op, "payload": payload, "tool": tool, "client_id": client_id},
                                timeout)

    async def deliver(self, plugin_id: str, event: dict[str, Any], *, timeout: float | None = None) -> None:
        """``on_event(event)`` in one replica; WorkerUnavailable when none serves (the caller holds the event)."""
        if not self.serving(plugin_id):
            raise WorkerUnavailable(f"plugin {plugin_id!r} has no ready worker to deliver {event.get('type')!r} to",
                                    plugin_id=plugin_id)
        reply = await self._open(plugin_id, {"op": "event", "event": event}, timeout)
        await reply.aclose()

    async def _open(self, plugin_id: str, message: dict[str, Any], timeout: float | None) -> RayReply:
        app = self._apps.get(plugin_id)
        if app is None:
            raise NoSuchPool(f"no local workers for plugin {plugin_id!r}", plugin_id=plugin_id)
        timeout = app.spec.timeout_s if timeout is None else timeout
        started = time.monotonic()
        while not app.serving():  # starting: wait for it, as for a worker process coming up
            if not app.lock.locked() or time.monotonic() - started > timeout:
                app.counters.finished(False, started)
                if app.lock.locked():
                    raise WorkerTimeout(f"plugin {plugin_id!r}: no worker became ready within {timeout:g} s",
                                        plugin_id=plugin_id)
                why = f": {app.last_error}" if app.last_error else ""
                raise WorkerUnavailable(f"plugin {plugin_id!r} has no worker running{why}", plugin_id=plugin_id,
                                        stderr_tail=app.failed_tail)
            await asyncio.sleep(0.05)
        try:
            text = encode_json(message)
        except (TypeError, ValueError) as e:
            raise BackendError(plugin_id, "TypeError", f"payload is not JSON serializable: {e}") from None
        return await RayReply.open(plugin_id, app.handle.remote(text), timeout=timeout, started=started,
                                   counters=app.counters, on_publish=self._published, timeout_s=app.spec.timeout_s)

    def _published(self, plugin_id: str, topic: str, data: Any) -> None:
        self.on_publish(plugin_id, topic, data)  # looked up per frame: the owner may set on_publish later


def _start_error(spec: WorkerSpec, view: _serve.AppView | None, error: BaseException | None) -> WorkerError:
    """Why a deploy failed, from the deployment's message (the replica constructor's traceback)."""
    text = (view.deployment_message or view.message) if view is not None else ""
    text = text or (str(error) if error is not None else "the Ray deployment failed")
    lines = [line for line in text.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if FAILURE in line]
    if starts:  # the replica's own account follows its marker (Serve's frames come before)
        lines = lines[starts[-1] + 1:]
    marker = next((line.strip() for line in reversed(lines) if line.strip().startswith("init hook")), None)
    tail = tuple(lines[-15:])
    if marker is not None:
        return HookFailed(f"worker {spec.plugin_id} (on Ray) {marker}", plugin_id=spec.plugin_id, hook="init", tail=tail)
    last = lines[-1] if lines else "the Ray deployment failed"
    return WorkerError(f"plugin {spec.plugin_id!r} did not start on Ray: {last}", plugin_id=spec.plugin_id,
                       stderr_tail=tail)
