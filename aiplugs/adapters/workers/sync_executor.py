"""The threads that run a worker's sync backend code: as few as keep its calls moving.

A ``ThreadPoolExecutor`` wakes a thread for every call it is given. Calls reach a worker in bursts (the router
writes the frames of one loop pass together), so a burst of eight short calls woke up to six threads that then
took turns at the GIL: 4.3 context switches per call and about a fifth of a worker's CPU (``perf stat`` under
``benchmarks/bench_router.py``). Here one thread takes the calls one after another while they keep moving, and
another joins only when the call at the head of the queue has waited ``patience`` seconds (the calls ahead of it
block on I/O, sleep, or compute in C without the GIL), up to ``max_threads``. A call so waits at most about
``patience`` (2 ms) behind a slow one before a thread of its own takes it; short calls no longer wake threads.

It is the worker loop's default executor, so ``asyncio.to_thread`` and ``run_in_executor(None, ...)`` use it too.
Standard library only (see harness.py).
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import threading
import time
from typing import Any, Callable

__all__ = ["SyncExecutor"]

PATIENCE = 0.002

_Item = tuple[concurrent.futures.Future, Callable[..., Any], tuple, dict, float]


class SyncExecutor(concurrent.futures.ThreadPoolExecutor):
    """``max_threads`` as ``ThreadPoolExecutor``'s ``max_workers`` (default min(32, CPUs + 4)). Threads are
    started as they are first needed and then wait for work; ``shutdown`` ends them once the queue is done.

    A ``ThreadPoolExecutor`` by class only because asyncio's ``set_default_executor`` takes nothing else (Python
    3.11): every method of it that a caller uses is this class's own, none of its threads or queue is used."""

    def __init__(self, max_threads: int | None = None, *, patience: float = PATIENCE,
                 thread_name_prefix: str = "sync") -> None:
        if max_threads is not None and max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self.max_threads = max_threads or min(32, (os.cpu_count() or 1) + 4)
        super().__init__(self.max_threads, thread_name_prefix)
        self.patience = patience
        self._prefix = thread_name_prefix
        lock = threading.Lock()
        self._work = threading.Condition(lock)  # parked threads wait here for a wake token
        self._watch = threading.Condition(lock)  # the watcher waits here for a queue to watch
        self._queue: collections.deque[_Item] = collections.deque()
        self._alive: set[threading.Thread] = set()
        self._runners = 0  # threads running a call or committed to take the next one
        self._starting = 0  # of those, threads woken or started that have not taken a call yet
        self._parked = 0  # threads waiting for work
        self._tokens = 0  # wake-ups given to parked threads, not yet taken
        self._watcher: threading.Thread | None = None
        self._watching = False
        self._closed = False
        self._count = 0

    @property
    def threads(self) -> int:
        """Threads alive (running, starting or parked)."""
        with self._work:
            return len(self._alive)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._work:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append((future, fn, args, kwargs, time.monotonic()))
            if self._runners == 0:
                self._add_runner()
            elif not self._watching:
                self._arm_watcher()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._work:
            self._closed = True
            if cancel_futures:
                while self._queue:
                    self._queue.popleft()[0].cancel()
            self._work.notify_all()
            self._watch.notify_all()
            threads = list(self._alive) + ([self._watcher] if self._watcher is not None else [])
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    # ---- with the lock held -----------------------------------------------------------------------------------

    def _add_runner(self) -> bool:
        """One more thread taking calls: a parked one woken, or a new one; False at ``max_threads``."""
        if self._parked > self._tokens:
            self._tokens += 1
            self._work.notify()
        elif len(self._alive) < self.max_threads:
            self._count += 1
            thread = threading.Thread(target=self._run, name=f"{self._prefix}_{self._count}", daemon=True)
            self._alive.add(thread)
            thread.start()
        else:
            return False
        self._runners += 1
        self._starting += 1
        return True

    def _arm_watcher(self) -> None:
        self._watching = True
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_queue, name=f"{self._prefix}_watch", daemon=True)
            self._watcher.start()
        else:
            self._watch.notify()

    # ---- threads ----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        """A thread: takes calls while there are any, then parks until woken (or shut down)."""
        fresh = True  # counted in _starting (by _add_runner) until it takes a call or parks
        while True:
            with self._work:
                while not self._queue:
                    if fresh:
                        self._starting -= 1
                        fresh = False
                    self._runners -= 1
                    if self._closed:
                        self._alive.discard(threading.current_thread())
                        return
                    self._parked += 1
                    while not self._tokens and not self._closed:
                        self._work.wait()
                    self._parked -= 1
                    if not self._tokens:  # shut down and nothing asked for this thread
                        self._alive.discard(threading.current_thread())
                        return
                    self._tokens -= 1  # _add_runner counted this thread as a runner (and starting) already
                    fresh = True
                if fresh:
                    self._starting -= 1
                    fresh = False
                future, fn, args, kwargs, _ = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:
                future.set_exception(e)
                del e  # no cycle through the traceback's frame
            else:
                future.set_result(result)
            del future, fn, args, kwargs

    def _watch_queue(self) -> None:
        """The watcher: while calls wait, gives those that waited ``patience`` a thread each (up to the limit). It
        sleeps while nothing waits, and while every thread is busy (until the next submit)."""
        with self._work:
            while not self._closed:
                if not self._queue or not self._runners:
                    self._watching = False
                    self._watch.wait()
                    continue
                now = time.monotonic()
                overdue = 0
                for item in self._queue:
                    if now - item[4] < self.patience:
                        break
                    overdue += 1
                if any(not self._add_runner() for _ in range(overdue - self._starting)):
                    # every thread is busy: they take the queue as they finish; look again on the next submit
                    self._watching = False
                    self._watch.wait()
                    continue
                head_waited = now - self._queue[0][4]
                self._watch.wait(self.patience - head_waited if head_waited < self.patience else self.patience)
