"""Metrics with plain values: one registry per router, exposed names, histogram buckets, values read at scrape time."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from aiplugs.adapters.router.metrics import BUCKETS, Metrics


def _ctx(tmp_path: Path, proxy: Any = None, plugin_events: Any = None) -> Any:
    (tmp_path / "here.bin").write_bytes(b"x" * 123)
    models = [SimpleNamespace(filename="here.bin", path=tmp_path / "here.bin"),
              SimpleNamespace(filename="missing.bin", path=tmp_path / "missing.bin")]
    stats = {"echo": {"ready": 2, "restarts": 4}}
    desired = SimpleNamespace(models=models, worker=lambda pid: SimpleNamespace(count=3))
    return SimpleNamespace(workers=SimpleNamespace(stats=stats.get), desired=desired, proxy=proxy,
                           plugin_events=plugin_events, routes={"echo": SimpleNamespace(relay=None)})


def _values(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(metrics.render()) for s in f.samples}


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return _values(metrics)[name, frozenset(labels.items())]


def test_each_router_has_its_own_registry(tmp_path: Path) -> None:
    one, two = Metrics(_ctx(tmp_path), []), Metrics(_ctx(tmp_path), [])
    one.observe("echo", "local", 0.01, 200)
    assert _value(one, "aiplugs_requests_total", plugin="echo", mode="local", code="200") == 1
    assert ("aiplugs_requests_total", frozenset({"plugin": "echo", "mode": "local", "code": "200"}.items())) \
        not in _values(two)
    assert REGISTRY.get_sample_value("aiplugs_requests_total", {"plugin": "echo", "mode": "local",
                                                                "code": "200"}) is None


def test_histogram_buckets_are_cumulative_with_the_declared_bounds(tmp_path: Path) -> None:
    metrics = Metrics(_ctx(tmp_path), [])
    for seconds in (0.003, 0.02, 100.0):
        metrics.observe("chat", "cloud", seconds, 502 if seconds > 60 else 200)
    family = next(f for f in text_string_to_metric_families(metrics.render())
                  if f.name == "aiplugs_request_duration_seconds")
    assert family.type == "histogram"
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert list(buckets) == [*(str(b) for b in BUCKETS), "+Inf"]
    assert (buckets["0.005"], buckets["0.01"], buckets["0.025"], buckets["60.0"], buckets["+Inf"]) == (1, 1, 2, 2, 3)
    assert _value(metrics, "aiplugs_request_duration_seconds_count", plugin="chat", mode="cloud") == 3
    assert _value(metrics, "aiplugs_request_duration_seconds_sum", plugin="chat", mode="cloud") == \
        pytest.approx(100.023)
    assert _value(metrics, "aiplugs_request_errors_total", plugin="chat", mode="cloud") == 1
    assert _value(metrics, "aiplugs_requests_total", plugin="chat", mode="cloud", code="502") == 1


def test_pools_models_and_websockets_are_read_at_scrape_time(tmp_path: Path) -> None:
    connections: list[object] = []
    metrics = Metrics(_ctx(tmp_path), connections)
    assert _value(metrics, "aiplugs_workers_ready", plugin="echo") == 2
    assert _value(metrics, "aiplugs_workers_desired", plugin="echo") == 3
    assert _value(metrics, "aiplugs_worker_restarts_total", plugin="echo") == 4
    assert _value(metrics, "aiplugs_model_bytes", model="here.bin") == 123
    assert _value(metrics, "aiplugs_model_bytes", model="missing.bin") == 0
    assert _value(metrics, "aiplugs_websocket_connections") == 0
    connections.append(object())
    (tmp_path / "missing.bin").write_bytes(b"y" * 7)
    assert _value(metrics, "aiplugs_websocket_connections") == 1
    assert _value(metrics, "aiplugs_model_bytes", model="missing.bin") == 7


def test_proxy_counters_only_while_a_proxy_runs(tmp_path: Path) -> None:
    injector = SimpleNamespace(requests=5, tunnels=2, injected=3, failed=1)
    ctx = _ctx(tmp_path, proxy=SimpleNamespace(injector=injector))
    metrics = Metrics(ctx, [])
    families = {f.name: f for f in text_string_to_metric_families(metrics.render())}
    exposed = {s.name: s.value for f in families.values() for s in f.samples if s.name.startswith("aiplugs_proxy")}
    assert exposed == {"aiplugs_proxy_requests_total": 5, "aiplugs_proxy_tunnels_total": 2,
                       "aiplugs_proxy_injected_pages_total": 3, "aiplugs_proxy_inject_failures_total": 1}
    assert all(families[name[:-len("_total")]].type == "counter" for name in exposed)
    ctx.proxy = None
    assert not any(name.startswith("aiplugs_proxy") for name, _ in _values(metrics))


def test_plugin_event_delivery_per_subscriber_only_with_an_event_hub(tmp_path: Path) -> None:
    stats = {"listener": {"queued": 2, "delivered": 5, "dropped": 1, "failed": 3},
             "page:4": {"queued": 0, "delivered": 7, "dropped": 0, "failed": 0}}
    ctx = _ctx(tmp_path, plugin_events=SimpleNamespace(stats=lambda: stats))
    metrics = Metrics(ctx, [])
    assert _value(metrics, "aiplugs_plugin_events_delivered_total", subscriber="listener") == 5
    assert _value(metrics, "aiplugs_plugin_events_dropped_total", subscriber="listener") == 1
    assert _value(metrics, "aiplugs_plugin_events_failed_total", subscriber="listener") == 3
    assert _value(metrics, "aiplugs_plugin_events_queued", subscriber="listener") == 2
    assert _value(metrics, "aiplugs_plugin_events_delivered_total", subscriber="page:4") == 7
    stats["page:4"]["delivered"] = 8  # read at scrape time
    assert _value(metrics, "aiplugs_plugin_events_delivered_total", subscriber="page:4") == 8
    ctx.plugin_events = None
    assert not any(name.startswith("aiplugs_plugin_events") for name, _ in _values(metrics))


def test_repeated_calls_and_changed_routes_count_on_the_same_series(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    metrics = Metrics(ctx, [])
    for status in (200, 200, 500, 200):
        metrics.observe("echo", "local", 0.01, status)
    ctx.routes = {"other": SimpleNamespace(relay=None)}  # plugins changed: the labelled children are looked up anew
    metrics.observe("echo", "local", 0.02, 200)
    metrics.observe("other", "local", 0.02, 404)
    assert _value(metrics, "aiplugs_requests_total", plugin="echo", mode="local", code="200") == 4
    assert _value(metrics, "aiplugs_requests_total", plugin="echo", mode="local", code="500") == 1
    assert _value(metrics, "aiplugs_request_errors_total", plugin="echo", mode="local") == 1
    assert _value(metrics, "aiplugs_request_duration_seconds_count", plugin="echo", mode="local") == 5
    assert _value(metrics, "aiplugs_request_errors_total", plugin="other", mode="local") == 1
    assert _value(metrics, "aiplugs_requests_total", plugin="other", mode="local", code="404") == 1
