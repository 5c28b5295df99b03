"""``/metrics`` on prometheus_client: plugin calls are counted as they happen; worker pools, model sizes, the proxy's
counters, plugin-event delivery per subscriber and open WebSockets are read at scrape time, so they can never drift
from what they describe.

Each router app owns one ``CollectorRegistry`` (never the process-global default one): several routers run in one
test process, and a daemon that rebuilds its app must not meet "Duplicated timeseries" from the previous one.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sized

from ._prometheus import (
    Collector,
    CollectorRegistry,
    Counter,
    CounterMetricFamily,
    Gauge,
    GaugeMetricFamily,
    Histogram,
    Metric,
    exposition,
)
from .context import RouterContext
from .ray_metrics import ReplicaCollector
from .worker_metrics import WorkerCollector

__all__ = ["BUCKETS", "Metrics", "PoolCounts", "ScrapeCollector"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# (exposed name, help, injector attribute); counters are read from the running proxy's injection addon
PROXY_COUNTERS = (
    ("aiplugs_proxy_requests_total", "HTTP requests the proxy saw (decrypted or plain).", "requests"),
    ("aiplugs_proxy_tunnels_total", "CONNECT tunnels opened through the proxy.", "tunnels"),
    ("aiplugs_proxy_injected_pages_total", "Pages the loader was injected into.", "injected"),
    ("aiplugs_proxy_inject_failures_total", "Matched pages left alone after an error.", "failed"),
)
# (exposed name, help, PluginEvents.stats() key); per subscriber: a plugin id or "page#<n>"
EVENT_COUNTERS = (
    ("aiplugs_plugin_events_delivered_total", "Plugin events handed to a subscriber.", "delivered"),
    ("aiplugs_plugin_events_dropped_total", "Plugin events dropped because a subscriber's queue was full.",
     "dropped"),
    ("aiplugs_plugin_events_failed_total", "Plugin events a subscriber failed to take (on_event raised, or the "
     "page's socket was gone).", "failed"),
)


class PoolCounts(NamedTuple):
    """What the metrics need of one plugin's workers."""

    ready: int
    desired: int
    restarts: int


class Metrics:
    """The router's registry. ``observe`` is called once per plugin call; ``render`` is the scrape."""

    def __init__(self, ctx: RouterContext, connections: Sized) -> None:
        self.registry = CollectorRegistry()
        # prometheus_client strips a trailing ``_total`` from a Counter's name and adds it back on exposition,
        # so these are written as the exposed names to keep them greppable
        self._requests = Counter("aiplugs_requests_total", "Plugin calls by plugin, mode and HTTP status.",
                                 ("plugin", "mode", "code"), registry=self.registry)
        self._errors = Counter("aiplugs_request_errors_total", "Plugin calls answered with an HTTP error status.",
                               ("plugin", "mode"), registry=self.registry)
        self._duration = Histogram("aiplugs_request_duration_seconds", "Plugin call latency until the answer started.",
                                   ("plugin", "mode"), buckets=BUCKETS, registry=self.registry)
        self.registry.register(ScrapeCollector(pools=lambda: _pools(ctx), models=lambda: _model_files(ctx),
                                               proxy=lambda: ctx.proxy, plugin_events=lambda: _event_stats(ctx)))
        self.registry.register(WorkerCollector(lambda: ctx.workers))  # worker_metrics.py
        self.registry.register(ReplicaCollector(lambda: _replicas(ctx)))  # ray_metrics.py: plugins on Ray
        Gauge("aiplugs_websocket_connections", "Open plugin WebSocket connections.",
              registry=self.registry).set_function(lambda: len(connections))
        # The labelled children per (plugin, mode, status): ``labels()`` on every call was ~5 % of the router's
        # CPU per call (benchmarks/bench_router.py). The same child objects the metrics hold, so every series
        # reads as before; never larger than the metrics' own children, and dropped whenever the routes change.
        self._ctx = ctx
        self._routes = ctx.routes
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, plugin_id: str, mode: str, seconds: float, status: int) -> None:
        routes = self._ctx.routes
        if routes is not self._routes:  # plugins changed (the context swaps its routes dict): start afresh
            self._children.clear()
            self._routes = routes
        children = self._children.get((plugin_id, mode, status))
        if children is None:
            children = self._children[plugin_id, mode, status] = self._labelled(plugin_id, mode, status)
        requests, errors, duration = children
        requests.inc()
        if status >= 400:
            errors.inc()
        duration.observe(seconds)

    def _labelled(self, plugin_id: str, mode: str, status: int) -> tuple[Any, Any, Any]:
        """The series one call outcome updates; the errors series is created even when 0 (a rate of errors
        needs it)."""
        return (self._requests.labels(plugin_id, mode, str(status)), self._errors.labels(plugin_id, mode),
                self._duration.labels(plugin_id, mode))

    def render(self) -> str:
        """The text exposition, of ``content_type()``."""
        return exposition().generate_latest(self.registry).decode("utf-8")

    @staticmethod
    def content_type() -> str:
        return exposition().CONTENT_TYPE_LATEST


def _pools(ctx: RouterContext) -> Mapping[str, PoolCounts]:
    """Workers by plugin id, for every plugin routed to local workers: the one place the metrics read them."""
    counts = {}
    for plugin_id, route in ctx.routes.items():
        if route.relay is not None:
            continue
        stats = ctx.workers.stats(plugin_id) or {}
        spec = ctx.desired.worker(plugin_id) if ctx.desired is not None else None
        counts[plugin_id] = PoolCounts(stats.get("ready", 0), spec.count if spec else 0, stats.get("restarts", 0))
    return counts


def _replicas(ctx: RouterContext) -> Iterator[tuple[str, dict[str, Any]]]:
    for plugin_id, route in ctx.routes.items():
        if route.relay is None:
            yield plugin_id, ctx.workers.stats(plugin_id) or {}


def _model_files(ctx: RouterContext) -> Iterator[tuple[str, int]]:
    """(filename, bytes on disk) of each model of the current desired state (read once per scrape); 0: missing."""
    desired = ctx.desired
    for model in desired.models if desired is not None else ():  # None: nothing applied yet
        try:
            size = model.path.stat().st_size
        except OSError:
            size = 0
        yield model.filename, size


def _event_stats(ctx: RouterContext) -> Mapping[str, Mapping[str, int]] | None:
    """Per subscriber delivery counts of the event hub; None when the router has none."""
    hub = ctx.plugin_events
    return hub.stats() if hub is not None else None


class ScrapeCollector(Collector):
    """Values owned by someone else, read when Prometheus asks: worker pools, model files, the proxy's counters,
    plugin-event delivery."""

    def __init__(self, pools: Callable[[], Mapping[str, PoolCounts]], models: Callable[[], Iterable[tuple[str, int]]],
                 proxy: Callable[[], Any],
                 plugin_events: Callable[[], Mapping[str, Mapping[str, int]] | None] = lambda: None) -> None:
        self._pools, self._models, self._proxy, self._plugin_events = pools, models, proxy, plugin_events

    def collect(self) -> Iterator[Metric]:
        pools = sorted(self._pools().items())
        restarts = CounterMetricFamily("aiplugs_worker_restarts_total", "Worker restarts after an exit, per plugin.",
                                       labels=("plugin",))
        ready = GaugeMetricFamily("aiplugs_workers_ready", "Ready worker processes per plugin.", labels=("plugin",))
        desired = GaugeMetricFamily("aiplugs_workers_desired", "Desired worker processes per plugin.",
                                    labels=("plugin",))
        for plugin, status in pools:
            restarts.add_metric((plugin,), status.restarts)
            ready.add_metric((plugin,), status.ready)
            desired.add_metric((plugin,), status.desired)
        yield from (restarts, ready, desired)
        sizes = GaugeMetricFamily("aiplugs_model_bytes",
                                  "Size on disk of each model file of the desired state (0: missing).",
                                  labels=("model",))
        for filename, size in self._models():
            sizes.add_metric((filename,), size)
        yield sizes
        yield from self._event_families()
        proxy = self._proxy()
        if proxy is None:  # stopped: no series rather than zeros that would read as a counter reset
            return
        for name, help_text, attribute in PROXY_COUNTERS:
            yield CounterMetricFamily(name, help_text, value=getattr(proxy.injector, attribute))

    def _event_families(self) -> Iterator[Metric]:
        stats = self._plugin_events()
        if stats is None:  # no event hub: no series
            return
        families = [(CounterMetricFamily(name, help_text, labels=("subscriber",)), key)
                    for name, help_text, key in EVENT_COUNTERS]
        queued = GaugeMetricFamily("aiplugs_plugin_events_queued", "Plugin events waiting in a subscriber's queue.",
                                   labels=("subscriber",))
        for subscriber, counts in sorted(stats.items()):
            for family, key in families:
                family.add_metric((subscriber,), counts.get(key, 0))
            queued.add_metric((subscriber,), counts.get("queued", 0))
        yield from (family for family, _ in families)
        yield queued
