"""WorkerManager: starts, restarts and stops single workers when told to, and dispatches calls to them.

It is a doer: ``start(spec, i)`` / ``restart(spec, i)`` / ``stop(plugin, i)`` carry out the plan's worker actions,
``run_hook(spec, "install" | "uninstall")`` runs a one-shot hook, and ``observe()`` reports what runs and how
processes ended; it never decides to start anything by itself. Calls (``run`` or a named tool), WebSocket
messages and events (``deliver``) go to the least busy ready worker over a socketpair channel (see
``channel.py``); what workers publish comes out through ``on_publish``. ``telemetry()`` reports what the pools
measured (calls, errors, latency, waits, in flight; ``sample_usage()`` reads CPU and memory of the workers).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from ...events import NULL_BUS, EventBus
from ...events.catalogue import WORKER_EXITED, WORKER_FAILED, WORKER_STARTED, WORKER_STARTING, WORKER_STOPPED
from ...plan import ObservedPlugin, ObservedWorker, WorkerSpec
from .callstats import NULL_STATS, CallStats
from .errors import NoSuchPool, WorkerError, WorkerTimeout, WorkerUnavailable
from .hooks import OneShotHook, run_hook
from .pool import Pool, Slot
from .process import RotatingLog, WorkerProcess
from .recycle import Recycler
from .reply import Reply
from .telemetry import PoolTelemetry, read_telemetry
from .usage import UsageSampler

__all__ = ["WorkerManager"]


class WorkerManager:
    def __init__(self, state_dir: Path, *, events: EventBus = NULL_BUS, python: str = sys.executable,
                 grace_s: float = 10.0, ready_timeout_s: float = 120.0,
                 on_change: Callable[[], None] = lambda: None, parent_env: dict[str, str] | None = None,
                 on_publish: Callable[[str, str, Any], None] = lambda plugin_id, topic, data: None) -> None:
        self.state_dir = Path(state_dir)
        self.log_dir = self.state_dir / "logs"
        self.events = events
        self.python = python
        self.grace_s = grace_s
        self.ready_timeout_s = ready_timeout_s
        self.on_change = on_change  # called when a worker changed by itself (exited): time to look again
        self.parent_env = parent_env  # where pass_env variables come from (None: this process's environment)
        # (plugin id, "<plugin-id>/<name>", data) for each ctx.publish of a worker, called in the event loop; the
        # plugin id is the manager's knowledge of which worker sent it, never the worker's say.
        self.on_publish = on_publish
        self._pools: dict[str, Pool] = {}
        self._ready = asyncio.Condition()  # notified whenever a worker became ready (wait_serving)
        self.recycler = Recycler(self)  # max_calls_per_worker: drain and replace (recycle.py)
        self.usage = UsageSampler()  # CPU and memory of the workers' process trees (sample_usage)
        self.collecting = True  # call counters on (set_collecting)

    # --- doing what the plan says ------------------------------------------------------------------------------

    def _pool(self, spec: WorkerSpec) -> Pool:
        pool = self._pools.get(spec.plugin_id)
        if pool is None:
            pool = self._pools[spec.plugin_id] = Pool(spec, log_dir=self.log_dir, on_change=self.on_change)
            pool.stats = CallStats() if self.collecting else NULL_STATS
        pool.spec = spec
        return pool

    async def start(self, spec: WorkerSpec, index: int) -> None:
        """Starts worker ``index`` and returns once it answered its health check; WorkerError (with its last
        stderr lines) when it does not. A process still in the slot is stopped first."""
        pool = self._pool(spec)
        slot = pool.slot(index)
        if slot.worker is not None:
            await self._stop_process(slot)
        if slot.attempts:
            pool.restarts += 1
        slot.attempts += 1
        slot.stopping = False
        worker = WorkerProcess(spec, index, python=self._python(spec), log=slot.log, tail=pool.tail,
                               parent_env=self.parent_env, on_publish=self._published)
        slot.worker = worker
        self.events.publish(WORKER_STARTING, plugin_id=spec.plugin_id, index=index)
        try:
            await worker.start(self.ready_timeout_s)
        except WorkerError as e:
            slot.ended(worker.proc.returncode if worker.proc and worker.proc.returncode is not None else 1)
            slot.worker = None
            pool.record_failure(e.message, hook=getattr(e, "hook", None))
            self.events.publish(WORKER_FAILED, plugin_id=spec.plugin_id, index=index, error=e.message,
                                stderr_tail=list(pool.failed_tail))
            raise
        slot.exit_code = slot.exit_signal = None
        pool.failed_hook = None
        pool.stats.started(worker.startup_s or 0.0)
        slot.watcher = asyncio.get_running_loop().create_task(self._watch(pool, slot, worker),
                                                              name=f"watch {spec.unit(index)}")
        self.events.publish(WORKER_STARTED, plugin_id=spec.plugin_id, index=index, pid=worker.pid,
                            ms=round((time.monotonic() - worker.started_at) * 1000, 1), restarts=pool.restarts)
        pool.notify()
        async with self._ready:
            self._ready.notify_all()

    def _python(self, spec: WorkerSpec) -> str:
        return str(spec.python) if spec.python is not None else self.python  # the plugin's own environment

    def _published(self, plugin_id: str, topic: str, data: Any) -> None:
        self.on_publish(plugin_id, topic, data)  # looked up per frame: the owner may set on_publish later

    async def restart(self, spec: WorkerSpec, index: int) -> None:
        await self.start(spec, index)  # start stops what runs in the slot first

    async def stop(self, plugin_id: str, index: int) -> None:
        """Stops worker ``index`` (SIGTERM to its group, grace, SIGKILL) and frees its slot; the pool goes with
        its last slot."""
        pool = self._pools.get(plugin_id)
        slot = pool.slots.pop(index, None) if pool is not None else None
        if slot is None:
            return
        await self._stop_process(slot)
        slot.log.close()
        if not pool.slots:
            self._pools.pop(plugin_id, None)
        pool.notify()

    def forget_failures(self, plugin_id: str | None = None) -> None:
        for pool in self._pools.values():
            if plugin_id is None or pool.spec.plugin_id == plugin_id:
                pool.forget_failures()

    async def close(self) -> None:
        await self.recycler.close()
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(self._stop_process(slot) for pool in pools for slot in pool.slots.values()))
        for pool in pools:
            for slot in pool.slots.values():
                slot.log.close()

    async def _stop_process(self, slot: Slot) -> None:
        """One grace period for the whole graceful stop: the calls in flight finish, then the backend's shutdown
        hook runs (until a quarter of the grace is left, so SIGTERM still gets a moment), then SIGTERM; SIGKILL
        at the end of the grace."""
        worker = slot.worker
        if worker is None:
            return
        deadline = time.monotonic() + self.grace_s
        await self._drain(worker, deadline)
        slot.worker = None
        slot.stopping = True
        if slot.watcher is not None:
            slot.watcher.cancel()
        await worker.shutdown(deadline - self.grace_s / 4 - time.monotonic())
        await worker.stop(max(deadline - time.monotonic(), 0.0))
        self.events.publish(WORKER_STOPPED, plugin_id=slot.pool.spec.plugin_id, index=slot.index, pid=worker.pid)

    async def _drain(self, worker: WorkerProcess, deadline: float) -> None:
        """No new calls go to a worker being stopped; the ones it is serving finish first (until ``deadline``),
        so scaling down or a config change never cuts a call short."""
        worker.ready = False
        while worker.outstanding > 0 and worker.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def run_hook(self, spec: WorkerSpec, hook: OneShotHook) -> None:
        """Runs backend.py's ``install`` or ``uninstall`` hook once, in a process of its own (see hooks.py);
        HookFailed with its last output lines when it raises or times out, nothing when it is not defined.
        Its output goes to the log of the plugin's worker 0 (what ``aiplugs logs`` shows)."""
        pool = self._pools.get(spec.plugin_id)
        slot = pool.slots.get(0) if pool is not None else None
        log = slot.log if slot is not None else RotatingLog(self.log_dir / f"{spec.plugin_id}-0.log")
        try:
            await run_hook(spec, hook, python=self._python(spec), log=log, parent_env=self.parent_env)
        finally:
            if slot is None:
                log.close()

    async def _watch(self, pool: Pool, slot: Slot, worker: WorkerProcess) -> None:
        """Waits for the process to end; an end nobody asked for is a failure the plan will look at."""
        code = await worker.wait()
        if slot.stopping or slot.worker is not worker:
            return
        slot.ended(code)
        slot.worker = None
        how = f"killed by {slot.exit_signal}" if slot.exit_signal else f"exited with code {slot.exit_code}"
        self.events.publish(WORKER_EXITED, plugin_id=pool.spec.plugin_id, index=slot.index, pid=worker.pid,
                            code=slot.exit_code, signal=slot.exit_signal)
        pool.record_failure(f"{pool.spec.unit(slot.index)} {how}")

    # --- observing ---------------------------------------------------------------------------------------------

    def observe(self) -> tuple[tuple[ObservedWorker, ...], tuple[ObservedPlugin, ...]]:
        """Every slot (live or not) and every plugin's history, as plain values for the plan."""
        workers = tuple(slot.observed() for pool in self._pools.values() for slot in sorted(
            pool.slots.values(), key=lambda s: s.index))
        return workers, tuple(pool.history() for pool in self._pools.values())

    def stats(self, plugin_id: str) -> dict[str, Any] | None:
        """Counters of one plugin's calls for status and metrics."""
        pool = self._pools.get(plugin_id)
        if pool is None:
            return None
        latencies = sorted(pool.latencies_ms)
        return {"ready": sum(1 for s in pool.slots.values() if s.ready), "restarts": pool.restarts,
                "requests": pool.requests, "errors": pool.errors, "last_error": pool.last_error,
                "stderr_tail": list(pool.failed_tail),
                "p50_ms": round(latencies[len(latencies) // 2], 3) if latencies else None,
                "pids": [s.worker.pid for s in sorted(pool.slots.values(), key=lambda s: s.index)
                         if s.worker is not None and s.worker.alive]}

    def telemetry(self, reset_peak: bool = False) -> dict[str, PoolTelemetry]:
        """What every pool measured, now, with each worker's last CPU / memory reading (``sample_usage``).
        ``reset_peak``: start a new in-flight peak (the daemon's collector does, once per sample)."""
        return read_telemetry(self._pools.values(), self.usage.last, reset_peak)

    async def sample_usage(self) -> None:
        """Reads CPU and memory of every live worker's process tree (psutil, in a thread)."""
        pids = {(pool.spec.plugin_id, slot.index): slot.worker.pid for pool in self._pools.values()
                for slot in pool.slots.values() if slot.worker is not None and slot.worker.alive}
        await asyncio.to_thread(self.usage.sample, pids)  # type: ignore[arg-type]

    def set_collecting(self, on: bool) -> None:
        """Call counters on or off (``[metrics] enabled``); off, pools count nothing (and report zeros)."""
        if on != self.collecting:
            self.collecting = on
            for pool in self._pools.values():
                pool.stats = CallStats() if on else NULL_STATS

    def has(self, plugin_id: str) -> bool:
        return plugin_id in self._pools

    def serving(self, plugin_id: str) -> bool:
        """Cheap, for the call path: some worker of this plugin is ready."""
        pool = self._pools.get(plugin_id)
        return pool is not None and any(s.ready for s in pool.slots.values())

    async def wait_serving(self, plugin_id: str, timeout: float) -> bool:
        """Waits until some worker of the plugin is ready (its pool need not exist yet); False after ``timeout``
        seconds. For callers that hold events until the plugin can take them."""
        async with self._ready:
            try:
                await asyncio.wait_for(self._ready.wait_for(lambda: self.serving(plugin_id)), timeout)
            except TimeoutError:
                return self.serving(plugin_id)
        return True

    # --- calls -------------------------------------------------------------------------------------------------

    async def request(self, plugin_id: str, payload: Any, *, timeout: float | None = None, op: str = "run",
                      client_id: str | None = None, tool: str | None = None) -> Reply:
        """Sends one call to the least busy ready worker; returns once its first answer arrived. ``tool`` names
        a function of backend.py to call instead of ``run`` (on_message for op "message"); a name that is no
        tool fails with BackendError type NoSuchTool. ``payload`` may be a ``protocol.Encoded`` (its JSON text
        goes out as it is)."""
        pool = self._pools.get(plugin_id)
        if pool is None:
            raise NoSuchPool(f"no local workers for plugin {plugin_id!r}", plugin_id=plugin_id)
        timeout = pool.spec.timeout_s if timeout is None else timeout
        started = time.monotonic()
        worker = await pool.acquire(started + timeout, sticky=client_id)
        waited = time.monotonic() - started
        pool.stats.waited(waited)
        if worker is None:
            pool.errors += 1
            pool.stats.finished(waited, "timeout" if pool.coming() else "unavailable")
            if pool.coming():
                raise WorkerTimeout(f"plugin {plugin_id!r}: no worker became ready within {timeout:g} s",
                                    plugin_id=plugin_id)
            why = f": {pool.last_error}" if pool.last_error else ""
            raise WorkerUnavailable(f"plugin {plugin_id!r} has no worker running{why}", plugin_id=plugin_id,
                                    stderr_tail=pool.failed_tail)
        assert worker.channel is not None
        self.recycler.count(pool, worker)
        fields: dict[str, Any] = {"payload": payload}
        if client_id is not None:
            fields["client_id"] = client_id
        if tool is not None:
            fields["tool"] = tool
        return await Reply.open(pool, worker, op, fields, timeout, started)

    async def call(self, plugin_id: str, payload: Any, *, timeout: float | None = None,
                   tool: str | None = None) -> Any:
        """The result of ``run(payload)`` (or of ``tool``); a streaming result comes back as the list of its items."""
        reply = await self.request(plugin_id, payload, timeout=timeout, tool=tool)
        if not reply.streaming:
            return reply.value
        return [item async for item in reply]

    async def stream(self, plugin_id: str, payload: Any, *, timeout: float | None = None,
                     tool: str | None = None) -> AsyncIterator[Any]:
        """The items of a streaming ``run`` (or ``tool``); a plain result is one item."""
        reply = await self.request(plugin_id, payload, timeout=timeout, tool=tool)
        try:
            async for item in reply:
                yield item
        finally:
            await reply.aclose()

    async def message(self, plugin_id: str, client_id: str, message: Any, *, timeout: float | None = None,
                      tool: str | None = None) -> Reply:
        """A WebSocket message for the backend's ``on_message`` — or, named, for ``tool(message[, ctx])`` —
        sent to the client's sticky worker."""
        return await self.request(plugin_id, message, timeout=timeout, op="message", client_id=client_id, tool=tool)

    async def deliver(self, plugin_id: str, event: dict[str, Any], *, timeout: float | None = None) -> None:
        """Hands ``event`` ({"type", "source", "data", "time"}) to ``on_event`` in the least busy ready worker and
        waits until it returned. WorkerUnavailable when no worker is ready (or the plugin has none): holding the
        event until one is (``wait_serving``) is the caller's business. BackendError when on_event raised, with
        type NoEventHandler when the backend has none."""
        pool = self._pools.get(plugin_id)
        worker = pool.pick() if pool is not None else None
        if pool is None or worker is None:
            raise WorkerUnavailable(f"plugin {plugin_id!r} has no ready worker to deliver {event.get('type')!r} to",
                                    plugin_id=plugin_id)
        timeout = pool.spec.timeout_s if timeout is None else timeout
        reply = await Reply.open(pool, worker, "event", {"event": event}, timeout, time.monotonic())
        await reply.aclose()

