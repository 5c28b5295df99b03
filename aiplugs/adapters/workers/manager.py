"""WorkerManager: converges worker pools to their specs and dispatches calls (least outstanding first)."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Literal

from ...events import NULL_BUS, EventBus
from ...plan import WorkerSpec
from .channel import Call
from .errors import BackendError, NoSuchPool, WorkerGone, WorkerTimeout, WorkerUnavailable
from .pool import Pool
from .process import WorkerProcess

__all__ = ["PoolState", "PoolStatus", "Reply", "WorkerManager"]

PoolState = Literal["ready", "starting", "degraded", "failed", "disabled"]


@dataclass(frozen=True)
class PoolStatus:
    plugin_id: str
    state: PoolState
    desired: int
    ready: int
    pids: tuple[int | None, ...]
    restarts: int
    last_error: str | None
    stderr_tail: tuple[str, ...]
    config_hash: str
    requests: int
    errors: int
    latency_p50_ms: float | None


class Reply:
    """The answer of one call: a single ``value``, or (``streaming``) items to iterate with ``async for``.

    ``timeout`` bounds the wait for the first answer and then for each next item, so long streams live on as
    long as they keep producing.
    """

    def __init__(self, manager: WorkerManager, pool: Pool, worker: WorkerProcess, call: Call, first: dict[str, Any],
                 timeout: float, started: float) -> None:
        self._manager, self._pool, self._worker, self._call = manager, pool, worker, call
        self.streaming = first.get("kind") == "stream"
        self.value = first.get("value")
        self._timeout = timeout
        self._started = started
        self._done = not self.streaming
        if self._done:
            self._finish(ok=True)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        if not self.streaming:
            yield self.value
            return
        ok = False
        try:
            while True:
                frame = await self._manager._next(self._pool, self._call, self._timeout)
                if frame["kind"] == "end":
                    ok = True
                    return
                yield frame.get("value")
        finally:
            self._finish(ok)

    async def aclose(self) -> None:
        """Gives up on an unfinished stream (cancels it in the worker)."""
        if not self._done:
            self._finish(ok=False)

    def _finish(self, ok: bool) -> None:
        if self._done and self._worker is None:
            return
        self._done = True
        self._call.close()
        self._worker.outstanding -= 1
        self._pool.requests += 1
        if not ok:
            self._pool.errors += 1
        self._pool.latencies_ms.append((time.monotonic() - self._started) * 1000)
        self._worker = None  # type: ignore[assignment]


class WorkerManager:
    def __init__(self, state_dir: Path, *, events: EventBus = NULL_BUS, python: str = sys.executable,
                 backoff: tuple[float, float] = (0.5, 30.0), grace_s: float = 10.0,
                 ready_timeout_s: float = 120.0) -> None:
        self.state_dir = Path(state_dir)
        self.log_dir = self.state_dir / "logs"
        self.events = events
        self.python = python
        self.backoff = backoff
        self.grace_s = grace_s
        self.ready_timeout_s = ready_timeout_s
        self._pools: dict[str, Pool] = {}
        self._lock = asyncio.Lock()

    # --- convergence -------------------------------------------------------------------------------------------

    async def ensure(self, spec: WorkerSpec, *, wait: bool = True) -> None:
        """Converges one plugin's pool to ``spec``: starts missing workers, restarts all of them when the config
        hash changed, stops extra ones (highest index first). A pool that had ``failed`` gets a fresh start.
        With ``wait`` returns once all are ready, or raises WorkerError with the last stderr lines."""
        async with self._lock:
            pool = self._pools.get(spec.plugin_id)
            if pool is None:
                pool = Pool(spec, log_dir=self.log_dir, python=self.python, events=self.events,
                            backoff=self.backoff, grace=self.grace_s, ready_timeout=self.ready_timeout_s)
                self._pools[spec.plugin_id] = pool
            elif pool.spec.config_hash != spec.config_hash:
                await pool.stop_all()
                pool.spec = spec
                pool.reset()
                pool.tail.clear()
            else:
                pool.spec = spec
                if pool.failed:
                    await pool.stop_all()
                    pool.reset()
            before = {slot.index: slot.start_errors for slot in pool.slots}
            extra = pool.scale_to(spec.count)
            for slot in extra:
                await slot.stop()
        if wait:
            await pool.wait_ready(before)

    async def remove(self, plugin_id: str) -> None:
        async with self._lock:
            pool = self._pools.pop(plugin_id, None)
            if pool is not None:
                await pool.stop_all()

    async def restart(self, plugin_id: str) -> None:
        """Stops every worker of the pool and starts them again (clears a ``failed`` state); waits until ready."""
        async with self._lock:
            pool = self._require(plugin_id)
            count = len(pool.slots)
            await pool.stop_all()
            pool.reset()
            pool.scale_to(count)
        await pool.wait_ready({})

    async def close(self) -> None:
        async with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            await asyncio.gather(*(pool.stop_all() for pool in pools))

    # --- calls -------------------------------------------------------------------------------------------------

    async def request(self, plugin_id: str, payload: Any, *, timeout: float | None = None, op: str = "run",
                      client_id: str | None = None) -> Reply:
        """Sends one call to the least busy ready worker; returns once its first answer arrived."""
        pool = self._require(plugin_id)
        timeout = pool.spec.timeout_s if timeout is None else timeout
        started = time.monotonic()
        worker = await pool.acquire(started + timeout, sticky=client_id)
        if worker is None:
            if pool.failed or not pool.slots:
                pool.errors += 1
                reason = "failed: " + (pool.last_error or "") if pool.slots else "has no workers (count = 0)"
                raise WorkerUnavailable(f"plugin {plugin_id!r} {reason}", plugin_id=plugin_id,
                                        stderr_tail=tuple(pool.tail))
            pool.errors += 1
            raise WorkerTimeout(f"plugin {plugin_id!r}: no worker became ready within {timeout:g} s",
                                plugin_id=plugin_id)
        assert worker.channel is not None
        fields: dict[str, Any] = {"payload": payload}
        if client_id is not None:
            fields["client_id"] = client_id
        try:
            call = worker.channel.open(op, **fields)
        except (TypeError, ValueError) as e:
            raise BackendError(plugin_id, "TypeError", f"payload is not JSON serializable: {e}") from None
        worker.outstanding += 1
        try:
            first = await self._next(pool, call, timeout - (time.monotonic() - started))
        except BaseException:
            call.close()
            worker.outstanding -= 1
            pool.requests += 1
            pool.errors += 1
            raise
        return Reply(self, pool, worker, call, first, timeout, started)

    async def call(self, plugin_id: str, payload: Any, *, timeout: float | None = None) -> Any:
        """The result of ``run(payload)``; a streaming result comes back as the list of its items."""
        reply = await self.request(plugin_id, payload, timeout=timeout)
        if not reply.streaming:
            return reply.value
        return [item async for item in reply]

    async def stream(self, plugin_id: str, payload: Any, *, timeout: float | None = None) -> AsyncIterator[Any]:
        """The items of a streaming ``run``; a plain result is one item."""
        reply = await self.request(plugin_id, payload, timeout=timeout)
        try:
            async for item in reply:
                yield item
        finally:
            await reply.aclose()

    async def message(self, plugin_id: str, client_id: str, message: Any, *,
                      timeout: float | None = None) -> Reply:
        """A WebSocket message for the backend's ``on_message``, sent to the client's sticky worker."""
        return await self.request(plugin_id, message, timeout=timeout, op="message", client_id=client_id)

    async def _next(self, pool: Pool, call: Call, timeout: float) -> dict[str, Any]:
        plugin_id = pool.spec.plugin_id
        try:
            frame = await call.next(max(timeout, 0.001))
        except TimeoutError:
            raise WorkerTimeout(f"plugin {plugin_id!r} did not answer within {pool.spec.timeout_s:g} s "
                                f"(timeout_s)", plugin_id=plugin_id) from None
        kind = frame.get("kind")
        if kind == "error":
            raise BackendError(plugin_id, str(frame.get("type")), str(frame.get("message")))
        if kind == "closed":
            raise WorkerGone(f"plugin {plugin_id!r}: the worker exited during the call", plugin_id=plugin_id,
                             stderr_tail=tuple(pool.tail)[-10:])
        return frame

    # --- observation -------------------------------------------------------------------------------------------

    def has(self, plugin_id: str) -> bool:
        return plugin_id in self._pools

    def serving(self, plugin_id: str, config_hash: str) -> bool:
        """Cheap, for the call path: some worker of this pool is ready and runs this config."""
        pool = self._pools.get(plugin_id)
        return pool is not None and pool.spec.config_hash == config_hash and any(s.ready for s in pool.slots)

    def snapshot(self) -> dict[str, PoolStatus]:
        return {pid: _status(pool) for pid, pool in self._pools.items()}

    def _require(self, plugin_id: str) -> Pool:
        pool = self._pools.get(plugin_id)
        if pool is None:
            raise NoSuchPool(f"no local workers for plugin {plugin_id!r}", plugin_id=plugin_id)
        return pool


def _status(pool: Pool) -> PoolStatus:
    desired = pool.spec.count
    ready = sum(1 for slot in pool.slots if slot.ready)
    state: PoolState
    if desired == 0:
        state = "disabled"
    elif pool.failed:
        state = "failed"
    elif ready >= desired:
        state = "ready"
    elif ready == 0 and not any(slot.ever_ready for slot in pool.slots):
        state = "starting"
    else:
        state = "degraded"
    latencies = sorted(pool.latencies_ms)
    p50 = round(latencies[len(latencies) // 2], 3) if latencies else None
    return PoolStatus(
        plugin_id=pool.spec.plugin_id, state=state, desired=desired, ready=ready,
        pids=tuple(slot.worker.pid if slot.worker is not None and slot.worker.alive else None for slot in pool.slots),
        restarts=pool.restarts, last_error=pool.last_error, stderr_tail=tuple(pool.tail),
        config_hash=pool.spec.config_hash, requests=pool.requests, errors=pool.errors, latency_p50_ms=p50,
    )
