"""prometheus_client without its package ``__init__``: the ``__init__`` imports the exposition module, and with it
the stand-alone HTTP servers and push gateway client (``http.server``, ``wsgiref``, ``urllib.request``: ~1 MB of the
daemon's memory) that an app serving ``/metrics`` itself never runs. The router's collectors import the names they
use from here; ``exposition()`` loads the text format on the first scrape (``util.lean_import``: a name only the
``__init__`` defines still works, it runs the ``__init__`` then)."""

from __future__ import annotations

from types import ModuleType

from ...util.lean_import import without_init

without_init("prometheus_client")

from prometheus_client.metrics import Counter, Gauge, Histogram  # noqa: E402
from prometheus_client.metrics_core import (  # noqa: E402
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry  # noqa: E402

__all__ = ["Collector", "CollectorRegistry", "Counter", "CounterMetricFamily", "Gauge", "GaugeMetricFamily",
           "Histogram", "HistogramMetricFamily", "Metric", "exposition"]


def exposition() -> ModuleType:
    """``prometheus_client.exposition`` (``generate_latest``, ``CONTENT_TYPE_LATEST``), imported when first asked."""
    import prometheus_client.exposition

    return prometheus_client.exposition
