"""Replica states of plugins on Ray on ``/metrics``: ``aiplugs_ray_replicas{plugin, state}``, read from the
workers' ``stats()`` at scrape time (which the Ray backend fills from Serve's controller). Process workers have no
replicas and give no series; readiness, restarts and call counts of both come from metrics.py's collectors."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from ._prometheus import Collector, GaugeMetricFamily, Metric

__all__ = ["ReplicaCollector"]


class ReplicaCollector(Collector):
    """``plugins``: (plugin id, its stats) of each plugin routed to workers, per scrape."""

    def __init__(self, plugins: Callable[[], Iterable[tuple[str, dict[str, Any]]]]) -> None:
        self._plugins = plugins

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("aiplugs_ray_replicas", "Ray Serve replicas of plugins on Ray, by replica "
                                   "state (RUNNING, STARTING, STOPPING, ...).", labels=("plugin", "state"))
        for plugin_id, stats in sorted(self._plugins()):
            states: dict[str, int] = {}
            for replica in stats.get("replicas") or ():
                states[replica["state"]] = states.get(replica["state"], 0) + 1
            for state, count in sorted(states.items()):
                family.add_metric((plugin_id, state), count)
        yield family
