"""The supervised pool of one plugin: N slots, each restarting its worker with capped exponential backoff.

More than ``MAX_FAILURES`` failures (start errors or exits) within ``FAILURE_WINDOW_S`` make the pool ``failed``:
no more restarts until the next ensure/restart; its last stderr lines stay in the status.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path
from typing import Any

from ...events import EventBus
from ...plan import WorkerSpec
from .errors import WorkerError
from .process import TAIL_LINES, RotatingLog, WorkerProcess

__all__ = ["Pool", "Slot"]

MAX_FAILURES = 5
FAILURE_WINDOW_S = 60.0


class Slot:
    """Worker ``index`` of a pool: a supervisor task that keeps one process running until stopped."""

    def __init__(self, pool: Pool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.worker: WorkerProcess | None = None
        self.stopping = asyncio.Event()
        self.start_errors = 0  # start attempts that failed, ever (ensure(wait=True) watches this)
        self.ever_ready = False
        self.log = RotatingLog(pool.log_dir / f"{pool.spec.plugin_id}-{index}.log")
        self.task = asyncio.get_running_loop().create_task(self._supervise(), name=f"{pool.spec.unit(index)}")

    @property
    def ready(self) -> bool:
        return self.worker is not None and self.worker.ready and self.worker.alive

    async def _supervise(self) -> None:
        pool, spec = self.pool, self.pool.spec
        first = True
        while not self.stopping.is_set() and not pool.failed:
            worker = WorkerProcess(spec, self.index, python=pool.python, log=self.log, tail=pool.tail)
            self.worker = worker
            pool.events.publish("worker.starting", plugin_id=spec.plugin_id, index=self.index)
            try:
                await worker.start(pool.ready_timeout)
            except WorkerError as e:
                self.start_errors += 1
                pool.record_failure(e.message, self.index)
                if self.stopping.is_set():
                    break
            else:
                if self.stopping.is_set():
                    break
                self.ever_ready = True
                pool.events.publish("worker.started" if first else "worker.restarted", plugin_id=spec.plugin_id,
                                    index=self.index, pid=worker.pid,
                                    ms=round((time.monotonic() - worker.started_at) * 1000, 1))
                if not first:
                    pool.restarts += 1
                pool.notify()
                code = await worker.wait()
                pool.notify()
                if self.stopping.is_set():
                    break
                pool.events.publish("worker.exited", plugin_id=spec.plugin_id, index=self.index, pid=worker.pid,
                                    code=code)
                pool.record_failure(f"{spec.unit(self.index)} exited with code {code}", self.index)
            first = False
            if pool.failed:
                break
            try:  # backoff, cut short by stop()
                await asyncio.wait_for(self.stopping.wait(), pool.backoff_delay())
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self.stopping.set()
        worker = self.worker
        if worker is not None:
            await worker.stop(self.pool.grace)
            self.pool.events.publish("worker.stopped", plugin_id=self.pool.spec.plugin_id, index=self.index,
                                     pid=worker.pid)
        try:
            await asyncio.wait_for(self.task, self.pool.grace + 5)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()
        if worker is not self.worker and self.worker is not None:  # a restart raced the stop
            await self.worker.stop(self.pool.grace)
        self.log.close()
        self.pool.notify()


class Pool:
    def __init__(self, spec: WorkerSpec, *, log_dir: Path, python: str, events: EventBus, backoff: tuple[float, float],
                 grace: float, ready_timeout: float) -> None:
        self.spec = spec
        self.log_dir = log_dir
        self.python = python
        self.events = events
        self.backoff = backoff
        self.grace = grace
        self.ready_timeout = ready_timeout
        self.slots: list[Slot] = []
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.failures: collections.deque[float] = collections.deque()
        self.failed = False
        self.last_error: str | None = None
        self.restarts = 0
        self.requests = 0
        self.errors = 0
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=1024)
        self.changed = asyncio.Condition()

    # --- supervision -------------------------------------------------------------------------------------------

    def record_failure(self, message: str, index: int) -> None:
        now = time.monotonic()
        self.failures.append(now)
        while self.failures and now - self.failures[0] > FAILURE_WINDOW_S:
            self.failures.popleft()
        self.last_error = message
        if len(self.failures) > MAX_FAILURES:
            self.failed = True
            self.events.publish("worker.failed", plugin_id=self.spec.plugin_id, index=index, error=message,
                                stderr_tail=list(self.tail))
        self.notify()

    def backoff_delay(self) -> float:
        base, cap = self.backoff
        return min(cap, base * 2 ** max(0, len(self.failures) - 1))

    def notify(self) -> None:
        async def _notify() -> None:
            async with self.changed:
                self.changed.notify_all()

        asyncio.get_running_loop().create_task(_notify())

    def scale_to(self, count: int) -> list[Slot]:
        """Starts missing slots; returns the extra ones (highest index first) for the caller to stop."""
        while len(self.slots) < count:
            self.slots.append(Slot(self, len(self.slots)))
        extra = self.slots[count:][::-1]
        del self.slots[count:]
        return extra

    async def stop_all(self) -> None:
        slots, self.slots = self.slots[::-1], []
        await asyncio.gather(*(slot.stop() for slot in slots))

    def reset(self) -> None:
        self.failures.clear()
        self.failed = False

    async def wait_ready(self, start_errors_before: dict[int, int]) -> None:
        """Until every slot is ready; raises WorkerError on a new start failure or when the pool fails."""
        async with self.changed:
            while True:
                if self.failed:
                    raise WorkerError(f"{self.spec.plugin_id}: workers failed: {self.last_error}",
                                      plugin_id=self.spec.plugin_id, stderr_tail=tuple(self.tail))
                for slot in self.slots:
                    if slot.start_errors > start_errors_before.get(slot.index, 0):
                        raise WorkerError(f"{self.spec.plugin_id}: {self.last_error}",
                                          plugin_id=self.spec.plugin_id, stderr_tail=tuple(self.tail))
                if all(slot.ready for slot in self.slots):
                    return
                await self.changed.wait()

    # --- dispatch ----------------------------------------------------------------------------------------------

    def pick(self, sticky: str | None = None) -> WorkerProcess | None:
        ready = [slot.worker for slot in self.slots if slot.ready]
        if not ready:
            return None
        if sticky is not None:  # WebSocket clients keep talking to the same worker while it lives
            return ready[hash(sticky) % len(ready)]  # type: ignore[return-value]
        return min(ready, key=lambda w: w.outstanding)  # type: ignore[union-attr,return-value]

    async def acquire(self, deadline: float, sticky: str | None = None) -> WorkerProcess | None:
        """A ready worker, waiting (until ``deadline``) while workers are starting; None if none is coming."""
        worker = self.pick(sticky)
        if worker is not None:  # the common case, without taking the condition's lock
            return worker
        async with self.changed:
            while True:
                worker = self.pick(sticky)
                if worker is not None or self.failed or not self.slots:
                    return worker
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except TimeoutError:
                    return None

    def describe(self) -> dict[str, Any]:
        return {"plugin_id": self.spec.plugin_id, "workers": [s.worker.describe() for s in self.slots if s.worker]}
