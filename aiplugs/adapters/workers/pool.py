"""The workers of one plugin: a slot per index, what became of each process, and the plugin's recent history.

No supervision lives here: when a worker exits by itself the slot records how (exit code or signal), the pool
records the failure and tells its owner (``on_change``); whether and when it starts again is the plan's decision
(``aiplugs.plan.policy``), carried out through ``WorkerManager.restart``.
"""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from pathlib import Path
from typing import Callable

from ...plan import ObservedPlugin, ObservedWorker, WorkerSpec
from .callstats import CallStats
from .process import TAIL_LINES, RotatingLog, WorkerProcess

__all__ = ["Pool", "Slot"]

HISTORY = 64  # failure times kept per plugin (the policy looks at the last minute)


class Slot:
    """Worker ``index`` of a pool: its current process (if any) and how the last one ended."""

    def __init__(self, pool: Pool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.worker: WorkerProcess | None = None
        self.attempts = 0  # start attempts, ever (each after the first is a restart)
        self.exit_code: int | None = None
        self.exit_signal: str | None = None
        self.log = RotatingLog(pool.log_dir / f"{pool.spec.plugin_id}-{index}.log")
        self.watcher: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def ready(self) -> bool:
        return self.worker is not None and self.worker.ready and self.worker.alive

    def ended(self, code: int) -> None:
        if code < 0:
            try:
                self.exit_code, self.exit_signal = None, signal.Signals(-code).name
            except ValueError:
                self.exit_code, self.exit_signal = None, f"signal {-code}"
        else:
            self.exit_code, self.exit_signal = code, None

    def observed(self) -> ObservedWorker:
        worker = self.worker
        pid = worker.pid if worker is not None and worker.alive else None
        return ObservedWorker(self.pool.spec.plugin_id, self.index, pid, self.ready, self.pool.spec.config_hash,
                              self.exit_code, self.exit_signal)


class Pool:
    def __init__(self, spec: WorkerSpec, *, log_dir: Path, on_change: Callable[[], None]) -> None:
        self.spec = spec
        self.log_dir = log_dir
        self.on_change = on_change
        self.slots: dict[int, Slot] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.failures: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self.last_error: str | None = None
        self.failed_hook: str | None = None  # the last failure was this hook's (init): failed, not starting
        self.failed_tail: tuple[str, ...] = ()  # stderr of the last failed start or crash
        self.restarts = 0
        self.requests = 0
        self.errors = 0
        self.latencies_ms: collections.deque[float] = collections.deque(maxlen=1024)
        self.stats: CallStats = CallStats()  # calls, errors, latency, wait, in flight (callstats.py)
        self.changed = asyncio.Condition()

    def slot(self, index: int) -> Slot:
        slot = self.slots.get(index)
        if slot is None:
            slot = self.slots[index] = Slot(self, index)
        return slot

    def record_failure(self, message: str, hook: str | None = None) -> None:
        """``hook``: the hook whose failure this was ("init"), None for a crash or a failed start."""
        self.failures.append(time.time())
        self.last_error = message
        self.failed_hook = hook
        self.failed_tail = tuple(self.tail)
        self.notify()

    def forget_failures(self) -> None:
        """A person asked for a fresh start (apply, restart): the crash-loop count begins again."""
        self.failures.clear()

    def history(self) -> ObservedPlugin:
        return ObservedPlugin(self.spec.plugin_id, tuple(self.failures), self.restarts, self.last_error,
                              self.failed_tail, failed_hook=self.failed_hook)

    def notify(self) -> None:
        async def _notify() -> None:
            async with self.changed:
                self.changed.notify_all()

        asyncio.get_running_loop().create_task(_notify())
        self.on_change()

    # --- dispatch ----------------------------------------------------------------------------------------------

    def pick(self, sticky: str | None = None) -> WorkerProcess | None:
        """The least busy ready worker (the first of equals); with ``sticky``, the one that key hashes to."""
        if sticky is not None:  # WebSocket clients keep talking to the same worker while it lives
            ready = [slot.worker for slot in self.slots.values() if slot.ready]
            return ready[hash(sticky) % len(ready)] if ready else None  # type: ignore[return-value]
        best: WorkerProcess | None = None
        for slot in self.slots.values():  # every call's path: no list, no key function
            worker = slot.worker
            if (worker is not None and worker.ready and worker.alive
                    and (best is None or worker.outstanding < best.outstanding)):
                best = worker
        return best

    def coming(self) -> bool:
        """Some slot's worker is starting right now (a call may wait for it)."""
        return any(slot.worker is not None and slot.worker.alive and not slot.worker.ready
                   for slot in self.slots.values())

    async def acquire(self, deadline: float, sticky: str | None = None) -> WorkerProcess | None:
        """A ready worker, waiting (until ``deadline``) while workers are starting; None if none is coming."""
        worker = self.pick(sticky)
        if worker is not None:  # the common case, without taking the condition's lock
            return worker
        async with self.changed:
            while True:
                worker = self.pick(sticky)
                if worker is not None or not self.coming():
                    return worker
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except TimeoutError:
                    return None
