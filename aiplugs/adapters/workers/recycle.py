"""Recycling: ``[plugins.<id>] max_calls_per_worker = N`` replaces a worker after it was given N calls — the cure
for a backend that leaks memory, as gunicorn's ``max_requests`` and Celery's ``max_tasks_per_child`` are.

The replacement starts beside the old process, which serves until the new one answered its health check; then
the slot switches to the new process in one step (new calls go there), and the old one is drained (the calls it
holds finish), its shutdown hook runs and it stops. No call waits for a cold start and none is cut short. A
replacement that fails to start leaves the old worker serving; the next N calls try again.

This is not a decision of the plan: the declaration said "at most N calls per process", and the slot keeps its
index, its spec and its config hash, so what the plan sees does not change.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING, Any

from ...events.catalogue import WORKER_STARTED, WORKER_STARTING, WORKER_STOPPED
from .errors import WorkerError
from .process import WorkerProcess

if TYPE_CHECKING:
    from .pool import Pool, Slot

__all__ = ["Recycler"]

log = logging.getLogger(__name__)


class Recycler:
    def __init__(self, manager: Any) -> None:
        self.manager = manager  # the WorkerManager that owns it (its start and stop steps are reused)
        self._given: weakref.WeakKeyDictionary[WorkerProcess, int] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[None]] = set()
        self._outside: set[WorkerProcess] = set()  # starting or retiring: in no slot, so close stops them here
        self.recycled = 0

    def count(self, pool: Pool, worker: WorkerProcess) -> None:
        """One more call was given to ``worker``; at the plugin's limit its replacement starts (once)."""
        limit = pool.spec.max_calls_per_worker
        if not limit:
            return
        given = self._given.get(worker, 0) + 1
        self._given[worker] = given
        if given != limit:
            return
        slot = next((s for s in pool.slots.values() if s.worker is worker), None)
        if slot is None:
            return
        task = asyncio.get_running_loop().create_task(self._replace(pool, slot, worker),
                                                      name=f"recycle {pool.spec.unit(slot.index)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace(self, pool: Pool, slot: Slot, old: WorkerProcess) -> None:
        manager, spec = self.manager, pool.spec
        new = WorkerProcess(spec, slot.index, python=manager._python(spec), log=slot.log, tail=pool.tail,
                            parent_env=manager.parent_env, on_publish=manager._published)
        manager.events.publish(WORKER_STARTING, plugin_id=spec.plugin_id, index=slot.index)
        self._outside.add(new)
        try:
            await new.start(manager.ready_timeout_s)
        except WorkerError as e:
            self._outside.discard(new)  # (a cancelled start stays listed: close stops what it spawned)
            log.warning("%s: its replacement did not start (%s); it keeps serving", spec.unit(slot.index), e)
            self._given[old] = 0  # the next ``limit`` calls try again
            return
        self._outside.discard(new)
        if slot.worker is not old or pool.slots.get(slot.index) is not slot:  # stopped or replaced meanwhile
            await new.stop(grace=manager.grace_s)
            return
        slot.worker = new  # one step: from here on new calls go to the new process
        old.ready = False
        self._outside.add(old)
        slot.watcher = asyncio.get_running_loop().create_task(manager._watch(pool, slot, new),
                                                              name=f"watch {spec.unit(slot.index)}")
        self.recycled += 1
        stats = getattr(pool, "stats", None)  # the pool's call counters count a recycled worker's start too
        if stats is not None:
            stats.started(new.startup_s or 0.0)
        manager.events.publish(WORKER_STARTED, plugin_id=spec.plugin_id, index=slot.index, pid=new.pid,
                               ms=round((time.monotonic() - new.started_at) * 1000, 1), restarts=pool.restarts)
        pool.notify()
        await self._retire(pool, slot, old)

    async def _retire(self, pool: Pool, slot: Slot, old: WorkerProcess) -> None:
        """The old process's own graceful stop: the calls it holds finish, shutdown hook, SIGTERM, SIGKILL."""
        grace = self.manager.grace_s
        deadline = time.monotonic() + grace
        await self.manager._drain(old, deadline)
        await old.shutdown(deadline - grace / 4 - time.monotonic())
        await old.stop(max(deadline - time.monotonic(), 0.0))
        self._outside.discard(old)
        self.manager.events.publish(WORKER_STOPPED, plugin_id=pool.spec.plugin_id, index=slot.index, pid=old.pid)

    async def close(self) -> None:
        """Stops replacements under way (the manager closes; the processes they hold are stopped with it)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        processes, self._outside = list(self._outside), set()
        await asyncio.gather(*(p.stop(grace=1.0) for p in processes), return_exceptions=True)
