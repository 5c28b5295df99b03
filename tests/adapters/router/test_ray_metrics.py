"""``aiplugs_ray_replicas``: replica states of plugins on Ray, from the workers' stats at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from aiplugs.adapters.router.ray_metrics import ReplicaCollector


def test_replicas_are_counted_by_state_and_processes_give_no_series() -> None:
    plugins = {"det": {"replicas": [{"state": "RUNNING"}, {"state": "RUNNING"}, {"state": "STARTING"}]},
               "word-count": {"ready": 1, "pids": [12]}}
    registry = CollectorRegistry()
    registry.register(ReplicaCollector(lambda: plugins.items()))
    text = generate_latest(registry).decode()
    assert 'aiplugs_ray_replicas{plugin="det",state="RUNNING"} 2.0' in text
    assert 'aiplugs_ray_replicas{plugin="det",state="STARTING"} 1.0' in text
    assert "word-count" not in text
    plugins["det"] = {"replicas": []}
    assert 'plugin="det"' not in generate_latest(registry).decode()
