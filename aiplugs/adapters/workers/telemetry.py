"""What the worker pools measured, as plain frozen values: per plugin its call counters (``callstats.py``), per
worker its calls in flight and its last CPU / memory reading (``usage.py``). ``WorkerManager.telemetry()`` builds
them; ``/metrics``, ``GET /api/top`` and the daemon's collector read them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .callstats import CallCounts
from .usage import Usage

if TYPE_CHECKING:
    from .pool import Pool

__all__ = ["PoolTelemetry", "WorkerTelemetry", "read_telemetry"]


@dataclass(frozen=True)
class WorkerTelemetry:
    index: int
    pid: int | None
    ready: bool
    inflight: int
    calls: int  # calls this process answered (or failed)
    startup_s: float | None  # spawn → ready of this process
    usage: Usage | None  # the last reading of its process tree; None before the first one

    def to_dict(self) -> dict[str, Any]:
        usage = self.usage
        return {"index": self.index, "pid": self.pid, "ready": self.ready, "inflight": self.inflight,
                "calls": self.calls, "startup_s": self.startup_s,
                "cpu_s": usage.cpu_s if usage else None, "rss_bytes": usage.rss_bytes if usage else None,
                "processes": usage.processes if usage else None}


@dataclass(frozen=True)
class PoolTelemetry:
    plugin_id: str
    counts: CallCounts
    restarts: int
    workers: tuple[WorkerTelemetry, ...]

    @property
    def ready(self) -> int:
        return sum(1 for w in self.workers if w.ready)

    @property
    def cpu_s(self) -> float:
        return sum(w.usage.cpu_s for w in self.workers if w.usage is not None)

    @property
    def rss_bytes(self) -> int:
        return sum(w.usage.rss_bytes for w in self.workers if w.usage is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.plugin_id, "ready": self.ready, "restarts": self.restarts,
                **dataclasses.asdict(self.counts), "errors": dict(self.counts.errors),
                "cpu_s": self.cpu_s, "rss_bytes": self.rss_bytes,
                "workers": [w.to_dict() for w in self.workers]}


def read_telemetry(pools: Iterable[Pool], usage: Mapping[tuple[str, int], Usage],
                   reset_peak: bool = False) -> dict[str, PoolTelemetry]:
    """Every pool now; a worker's ``usage`` only when the reading is of its current process."""
    seen = {}
    for pool in pools:
        plugin_id = pool.spec.plugin_id
        workers = []
        for slot in sorted(pool.slots.values(), key=lambda s: s.index):
            worker = slot.worker
            pid = worker.pid if worker is not None and worker.alive else None
            reading = usage.get((plugin_id, slot.index))
            workers.append(WorkerTelemetry(
                slot.index, pid, slot.ready, worker.outstanding if worker is not None else 0,
                worker.calls if worker is not None else 0, worker.startup_s if worker is not None else None,
                reading if reading is not None and reading.pid == pid else None))
        seen[plugin_id] = PoolTelemetry(plugin_id, pool.stats.snapshot(reset_peak), pool.restarts, tuple(workers))
    return seen
