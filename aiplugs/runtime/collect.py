"""The daemon's metrics collector: every ``[metrics] sample_s`` seconds it reads CPU and memory of every worker's
process tree, takes the pools' call counters, and adds what happened since the previous sample — one
:class:`~aiplugs.store.rollup.Rollup` per local plugin — into the minute rows of ``<state_dir>/metrics.sqlite``.

Deciding what a sample holds is :func:`sample_rollup`, a pure function of two telemetry snapshots; the collector
only reads, subtracts and writes. A sample is dated when it is taken and counts toward that minute. The daemon
takes one last sample when it stops, so a restart loses nothing but the time it was down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from ..plan import MetricsSpec
from ..store.metrics_history import MetricsHistory, history_path
from ..store.rollup import Rollup
from ..util.histogram import sub_counts

if TYPE_CHECKING:
    from ..adapters.workers import WorkerManager
    from ..adapters.workers.telemetry import PoolTelemetry

__all__ = ["MetricsCollector", "sample_rollup"]

log = logging.getLogger(__name__)
WorkerKey = tuple[str, int, int]  # (plugin, index, pid): a restarted worker is a new tree


def _grown(after: float, before: float) -> float:
    return after - before if after >= before else after  # went down: counting started again


def sample_rollup(plugin: str, before: PoolTelemetry | None, after: PoolTelemetry, *, cpu_s: float, span_s: float,
                  when: float) -> Rollup:
    """What happened to ``plugin`` between two snapshots ``span_s`` seconds apart, dated ``when`` (unix seconds).
    ``cpu_s``: CPU seconds its worker trees used in the span. Counters that went down started again (the pool was
    made anew), so all of ``after`` is new then."""
    new, old = after.counts, before.counts if before is not None else None
    if old is None or new.calls < old.calls:
        old = None
    errors = dict(new.errors)
    for key, count in old.errors if old is not None else ():
        errors[key] = errors.get(key, 0) - count
    ready = after.ready
    rss = after.rss_bytes
    known = {w.pid for w in before.workers} if before is not None else set()
    started = [w.startup_s for w in after.workers if w.pid is not None and w.pid not in known and w.startup_s]
    cpu_pct = 100.0 * cpu_s / span_s if span_s > 0 else 0.0
    return Rollup(
        plugin, int(when), samples=1, span_s=span_s, workers_sum=ready, workers_max=ready,
        cpu_pct_sum=cpu_pct, cpu_pct_max=cpu_pct, rss_sum=rss, rss_max=rss,
        calls=new.calls - (old.calls if old else 0),
        errors=tuple(sorted((k, n) for k, n in errors.items() if n > 0)),
        latency=sub_counts(new.latency, old.latency if old else ()),
        latency_sum=_grown(new.latency_sum, old.latency_sum if old else 0.0),
        wait=sub_counts(new.wait, old.wait if old else ()),
        wait_sum=_grown(new.wait_sum, old.wait_sum if old else 0.0),
        inflight_s=_grown(new.inflight_s, old.inflight_s if old else 0.0), inflight_max=new.inflight_peak,
        busy_s=_grown(new.busy_s, old.busy_s if old else 0.0),
        contended=int(_grown(new.contended, old.contended if old else 0)),
        restarts=int(_grown(after.restarts, before.restarts if before is not None else 0)),
        starts=int(_grown(new.starts, old.starts if old else 0)),
        startup_s_sum=_grown(new.startup_s_sum, old.startup_s_sum if old else 0.0),
        startup_s_max=max(started, default=0.0))


class MetricsCollector:
    def __init__(self, workers: WorkerManager, state_dir: Path, spec: MetricsSpec = MetricsSpec()) -> None:
        self.workers = workers
        self.spec = spec
        self.history = MetricsHistory(history_path(state_dir), retention_s=spec.retention_days * 86400)
        self._before: Mapping[str, PoolTelemetry] = {}
        self._cpu: dict[WorkerKey, float] = {}  # CPU seconds of each tree at the previous sample
        self._at = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Counting starts now (with ``enabled``); samples follow every ``sample_s`` seconds."""
        self.workers.set_collecting(self.spec.enabled)
        if self.spec.enabled and not self.running:
            self._before, self._at = self.workers.telemetry(), time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="aiplugs-metrics")

    async def configure(self, spec: MetricsSpec) -> None:
        """A new ``[metrics]`` from an apply: on, off, another interval or retention."""
        if spec == self.spec:
            return
        await self.close()  # what happened since the last sample counts under the old settings
        self.spec = spec
        self.history.retention_s = spec.retention_days * 86400
        await self.start()

    async def close(self, final_sample: bool = True) -> None:
        """Stops sampling; ``final_sample`` writes what happened since the last sample first."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if final_sample:
            await self._sample_quietly()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.spec.sample_s)
            await self._sample_quietly()

    async def _sample_quietly(self) -> None:
        try:
            await self.sample()
        except Exception:  # a full disk or a locked file must not stop the daemon; the next sample tries again
            log.exception("metrics sample failed")

    async def sample(self) -> list[Rollup]:
        """One sample now: read, subtract, write; the rollups written."""
        await self.workers.sample_usage()
        after = self.workers.telemetry(reset_peak=True)
        now = time.monotonic()
        span, self._at = now - self._at, now
        cpu: dict[WorkerKey, float] = {}
        rollups = []
        for plugin, pool in sorted(after.items()):
            used = 0.0
            for worker in pool.workers:
                if worker.usage is None:
                    continue
                key = (plugin, worker.index, worker.usage.pid)
                cpu[key] = worker.usage.cpu_s
                used += max(worker.usage.cpu_s - self._cpu.get(key, 0.0), 0.0)  # a new tree: all of its CPU
            rollups.append(sample_rollup(plugin, self._before.get(plugin), pool, cpu_s=used, span_s=span,
                                         when=time.time()))
        self._before, self._cpu = after, cpu
        await asyncio.to_thread(self.history.write, rollups)
        return rollups
