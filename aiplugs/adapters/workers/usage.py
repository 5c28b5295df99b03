"""CPU and memory of each worker's process tree (the worker and everything it spawned), read with psutil.

A tree's CPU time is counted per process and added up as increments, so the total never goes down when a child
exits (CPU a child used after the last reading is lost; nothing is counted twice). Memory is the sum of the
processes' resident set sizes (pages shared between them are counted once per process, as ``ps`` would).

Reading takes a few hundred microseconds per process, so it runs in a thread (``sample`` blocks). Whoever reads
keeps their own previous reading to turn CPU seconds into a percentage: the daemon's collector every
``[metrics] sample_s`` seconds, ``GET /api/top`` on each request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Mapping

import psutil

__all__ = ["ProcessTree", "Usage", "UsageSampler", "cpu_percent"]

WorkerKey = tuple[str, int]  # (plugin id, worker index)


@dataclass(frozen=True)
class Usage:
    pid: int
    cpu_s: float  # CPU seconds (user + system) of the tree since the worker started; never decreases
    rss_bytes: int
    processes: int
    at: float  # time.monotonic() of the reading


def cpu_percent(before: Usage | None, after: Usage) -> float | None:
    """CPU % between two readings of the same tree (100 = one core); None without a previous reading of it."""
    if before is None or before.pid != after.pid or after.at <= before.at:
        return None
    return max(after.cpu_s - before.cpu_s, 0.0) / (after.at - before.at) * 100.0


class ProcessTree:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu_s = 0.0
        self._root: psutil.Process | None = None
        self._seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> its CPU seconds last read

    def read(self) -> Usage | None:
        """The tree now; None when the worker itself is gone."""
        try:
            if self._root is None:
                self._root = psutil.Process(self.pid)
            if not self._root.is_running():
                return None
            processes = [self._root, *self._root.children(recursive=True)]
        except psutil.Error:
            return None
        rss, seen = 0, {}
        for process in processes:
            try:
                with process.oneshot():
                    times, memory, created = process.cpu_times(), process.memory_info(), process.create_time()
            except psutil.Error:  # exited between the listing and now
                continue
            key, cpu = (process.pid, created), times.user + times.system
            before = self._seen.get(key, 0.0)
            if cpu > before:
                self.cpu_s += cpu - before
            seen[key] = max(cpu, before)
            rss += memory.rss
        self._seen = seen
        return Usage(self.pid, self.cpu_s, rss, len(seen), time.monotonic())


class UsageSampler:
    """The process trees of the running workers, by (plugin id, index); ``last`` holds the latest readings."""

    def __init__(self) -> None:
        self._trees: dict[WorkerKey, ProcessTree] = {}
        self._lock = threading.Lock()  # the collector and /api/top may read at the same time
        self.last: dict[WorkerKey, Usage] = {}

    def sample(self, pids: Mapping[WorkerKey, int]) -> dict[WorkerKey, Usage]:
        """Reads the trees of ``pids`` (the workers alive now); trees of workers not listed are forgotten."""
        with self._lock:
            trees = {}
            for key, pid in pids.items():
                tree = self._trees.get(key)
                trees[key] = tree if tree is not None and tree.pid == pid else ProcessTree(pid)
            self._trees = trees
            readings = {key: usage for key, tree in trees.items() if (usage := tree.read()) is not None}
            self.last = readings
            return dict(readings)
