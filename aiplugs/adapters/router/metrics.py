"""Prometheus text exposition (format 0.0.4) of plugin calls, worker pools and model bytes. No client library:
the format is a few lines of text and the counters live here."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...plan import DesiredState
from ..workers import PoolStatus

__all__ = ["BUCKETS", "Metrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Series:
    requests: int = 0
    errors: int = 0
    total_s: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))


class Metrics:
    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}
        self._statuses: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self.websockets = 0

    def observe(self, plugin_id: str, mode: str, seconds: float, status: int) -> None:
        with self._lock:
            series = self._series.setdefault((plugin_id, mode), _Series())
            series.requests += 1
            if status >= 400:
                series.errors += 1
            series.total_s += seconds
            index = bisect.bisect_left(BUCKETS, seconds)
            if index < len(BUCKETS):
                series.buckets[index] += 1
            key = (plugin_id, mode, status)
            self._statuses[key] = self._statuses.get(key, 0) + 1

    def render(self, pools: Mapping[str, PoolStatus], desired: DesiredState, proxy: Any = None) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            series = sorted(self._series.items())
            statuses = sorted(self._statuses.items())
        family("aiplugs_requests_total", "counter", "Plugin calls by plugin, mode and HTTP status.")
        for (plugin, mode, status), count in statuses:
            out.append(f'aiplugs_requests_total{{{_labels(plugin=plugin, mode=mode, code=str(status))}}} {count}')
        family("aiplugs_request_errors_total", "counter", "Plugin calls answered with an HTTP error status.")
        for (plugin, mode), s in series:
            out.append(f"aiplugs_request_errors_total{{{_labels(plugin=plugin, mode=mode)}}} {s.errors}")
        family("aiplugs_request_duration_seconds", "histogram", "Plugin call latency until the answer started.")
        for (plugin, mode), s in series:
            cumulative = 0
            for bound, count in zip(BUCKETS, s.buckets):
                cumulative += count
                out.append(f"aiplugs_request_duration_seconds_bucket{{{_labels(plugin=plugin, mode=mode, le=_num(bound))}}}"
                           f" {cumulative}")
            labels = _labels(plugin=plugin, mode=mode)
            out.append(f'aiplugs_request_duration_seconds_bucket{{{labels},le="+Inf"}} {s.requests}')
            out.append(f"aiplugs_request_duration_seconds_sum{{{labels}}} {s.total_s:.6f}")
            out.append(f"aiplugs_request_duration_seconds_count{{{labels}}} {s.requests}")
        family("aiplugs_worker_restarts_total", "counter", "Worker restarts after an exit, per plugin.")
        for plugin, status in sorted(pools.items()):
            out.append(f"aiplugs_worker_restarts_total{{{_labels(plugin=plugin)}}} {status.restarts}")
        family("aiplugs_workers_ready", "gauge", "Ready worker processes per plugin.")
        for plugin, status in sorted(pools.items()):
            out.append(f"aiplugs_workers_ready{{{_labels(plugin=plugin)}}} {status.ready}")
        family("aiplugs_workers_desired", "gauge", "Desired worker processes per plugin.")
        for plugin, status in sorted(pools.items()):
            out.append(f"aiplugs_workers_desired{{{_labels(plugin=plugin)}}} {status.desired}")
        family("aiplugs_model_bytes", "gauge", "Size on disk of each model file of the desired state (0: missing).")
        for model in desired.models:
            try:
                size = model.path.stat().st_size
            except OSError:
                size = 0
            out.append(f"aiplugs_model_bytes{{{_labels(model=model.filename)}}} {size}")
        if proxy is not None:
            injector = proxy.injector
            family("aiplugs_proxy_requests_total", "counter", "HTTP requests the proxy saw (decrypted or plain).")
            out.append(f"aiplugs_proxy_requests_total {injector.requests}")
            family("aiplugs_proxy_tunnels_total", "counter", "CONNECT tunnels opened through the proxy.")
            out.append(f"aiplugs_proxy_tunnels_total {injector.tunnels}")
            family("aiplugs_proxy_injected_pages_total", "counter", "Pages the loader was injected into.")
            out.append(f"aiplugs_proxy_injected_pages_total {injector.injected}")
            family("aiplugs_proxy_inject_failures_total", "counter", "Matched pages left alone after an error.")
            out.append(f"aiplugs_proxy_inject_failures_total {injector.failed}")
        family("aiplugs_websocket_connections", "gauge", "Open plugin WebSocket connections.")
        out.append(f"aiplugs_websocket_connections {self.websockets}")
        return "\n".join(out) + "\n"


def _num(value: float) -> str:
    return repr(float(value))


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
