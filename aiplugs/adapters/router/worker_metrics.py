"""The worker pools' telemetry on ``/metrics``: read from ``WorkerManager.telemetry()`` at scrape time, like the
other values the router does not own (metrics.py's ``ScrapeCollector``).

Per plugin: calls, errors by kind (and exception type), call latency and wait histograms, contended calls, busy
worker-seconds, starts. Per worker (label ``worker``: its index): calls in flight, CPU seconds and resident bytes of
its process tree (as of the daemon's last reading, every ``[metrics] sample_s`` seconds), its process count and
how long it took from spawn to ready (a proxy for model load time). Names follow Prometheus conventions: base
units in the name, ``_total`` on counters.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from ...util.histogram import LATENCY_BOUNDS, cumulative
from ..workers.telemetry import PoolTelemetry
from ._prometheus import Collector, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

__all__ = ["WorkerCollector"]


def _histogram(name: str, help_text: str) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, help_text, labels=("plugin",))


def _add_histogram(family: HistogramMetricFamily, plugin: str, counts: tuple[int, ...], total: float) -> None:
    counts = counts or (0,) * (len(LATENCY_BOUNDS) + 1)
    running = cumulative(counts)
    buckets = [(repr(float(bound)), running[i]) for i, bound in enumerate(LATENCY_BOUNDS)]
    family.add_metric((plugin,), [*buckets, ("+Inf", running[-1])], total)


class WorkerCollector(Collector):
    """``workers``: the router's current WorkerManager (looked up per scrape); one without ``telemetry`` (a
    stand-in that measures nothing) gives no series."""

    def __init__(self, workers: Callable[[], Any]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        read = getattr(self._workers(), "telemetry", None)
        pools = sorted(read().items()) if read is not None else []
        yield from self._per_plugin(pools)
        yield from self._per_worker(pools)

    def _per_plugin(self, pools: list[tuple[str, PoolTelemetry]]) -> Iterator[Metric]:
        calls = CounterMetricFamily("aiplugs_worker_calls_total", "Calls the plugin's workers finished (answered "
                                    "or failed), runs, tools, WebSocket messages and events.", labels=("plugin",))
        errors = CounterMetricFamily("aiplugs_worker_call_errors_total", "Failed worker calls by kind (exception, "
                                     "timeout, worker_died, unavailable, cancelled) and exception type.",
                                     labels=("plugin", "kind", "type"))
        contended = CounterMetricFamily("aiplugs_worker_calls_contended_total", "Calls sent to a worker already "
                                        "serving another call (every ready worker was busy).", labels=("plugin",))
        busy = CounterMetricFamily("aiplugs_worker_busy_seconds_total", "Worker-seconds with at least one call in "
                                   "flight (utilization: its rate over ready workers).", labels=("plugin",))
        starts = CounterMetricFamily("aiplugs_worker_starts_total", "Workers that became ready.", labels=("plugin",))
        latency = _histogram("aiplugs_worker_call_duration_seconds", "Worker call latency: dispatch to the last "
                             "answer frame, the wait for a ready worker included.")
        wait = _histogram("aiplugs_worker_wait_seconds", "Time calls waited for a ready worker (none ready: "
                          "starting or restarting).")
        for plugin, pool in pools:
            counts = pool.counts
            calls.add_metric((plugin,), counts.calls)
            for key, count in counts.errors:
                kind, _, type_name = key.partition(":")
                errors.add_metric((plugin, kind, type_name), count)
            contended.add_metric((plugin,), counts.contended)
            busy.add_metric((plugin,), counts.busy_s)
            starts.add_metric((plugin,), counts.starts)
            _add_histogram(latency, plugin, counts.latency, counts.latency_sum)
            _add_histogram(wait, plugin, counts.wait, counts.wait_sum)
        yield from (calls, errors, contended, busy, starts, latency, wait)

    def _per_worker(self, pools: list[tuple[str, PoolTelemetry]]) -> Iterator[Metric]:
        labels = ("plugin", "worker")
        inflight = GaugeMetricFamily("aiplugs_worker_calls_in_flight", "Calls a worker is serving now.",
                                     labels=labels)
        cpu = CounterMetricFamily("aiplugs_worker_cpu_seconds_total", "CPU time (user + system) of a worker's "
                                  "process tree, as of the daemon's last reading.", labels=labels)
        rss = GaugeMetricFamily("aiplugs_worker_resident_memory_bytes", "Resident memory of a worker's process "
                                "tree (summed per process), as of the daemon's last reading.", labels=labels)
        processes = GaugeMetricFamily("aiplugs_worker_processes", "Processes in a worker's tree.", labels=labels)
        startup = GaugeMetricFamily("aiplugs_worker_startup_seconds", "Spawn to ready of a worker's process: "
                                    "backend imported, init hook run (models loaded), ping answered.",
                                    labels=labels)
        for plugin, pool in pools:
            for worker in pool.workers:
                key = (plugin, str(worker.index))
                inflight.add_metric(key, worker.inflight)
                if worker.startup_s is not None and worker.pid is not None:
                    startup.add_metric(key, worker.startup_s)
                if worker.usage is not None:
                    cpu.add_metric(key, worker.usage.cpu_s)
                    rss.add_metric(key, worker.usage.rss_bytes)
                    processes.add_metric(key, worker.usage.processes)
        yield from (inflight, cpu, rss, processes, startup)
