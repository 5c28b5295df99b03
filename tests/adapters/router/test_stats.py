"""The metrics of real workers through the real router: ``/metrics`` names and types, the history at
``/api/metrics/{plugin}`` and the live counters at ``/api/top``."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from aiplugs.store.metrics_history import MetricsHistory, history_path
from aiplugs.store.rollup import Rollup

from .conftest import Router

WORKER_FAMILIES = {
    "aiplugs_worker_calls": "counter", "aiplugs_worker_call_errors": "counter",
    "aiplugs_worker_calls_contended": "counter", "aiplugs_worker_busy_seconds": "counter",
    "aiplugs_worker_starts": "counter", "aiplugs_worker_call_duration_seconds": "histogram",
    "aiplugs_worker_wait_seconds": "histogram", "aiplugs_worker_calls_in_flight": "gauge",
    "aiplugs_worker_cpu_seconds": "counter", "aiplugs_worker_resident_memory_bytes": "gauge",
    "aiplugs_worker_processes": "gauge", "aiplugs_worker_startup_seconds": "gauge",
}


async def scrape(router: Router) -> dict[str, object]:
    response = await router.client.get("/metrics", headers=router.admin())
    assert response.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def value(family: object, name: str, **labels: str) -> float:
    return next(s.value for s in family.samples if s.name == name and s.labels == labels)  # type: ignore[attr-defined]


async def test_worker_metrics_on_the_scrape_follow_prometheus_conventions(router: Router) -> None:
    for _ in range(3):
        assert (await router.client.post("/v1/plugins/echo/run", json={"n": 1}, headers=router.page())).status_code \
            == 200
    assert (await router.client.post("/v1/plugins/raises/run", json={}, headers=router.page())).status_code == 500
    await router.ctx.workers.sample_usage()  # what the daemon's collector does every sample_s
    families = await scrape(router)
    assert {name: families[name].type for name in WORKER_FAMILIES} == WORKER_FAMILIES
    for name, family in families.items():
        if family.type == "counter" and name.startswith("aiplugs_worker"):
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), name
    assert value(families["aiplugs_worker_calls"], "aiplugs_worker_calls_total", plugin="echo") == 3
    assert value(families["aiplugs_worker_call_errors"], "aiplugs_worker_call_errors_total", plugin="raises",
                 kind="exception", type="ValueError") == 1
    latency = families["aiplugs_worker_call_duration_seconds"]
    assert value(latency, "aiplugs_worker_call_duration_seconds_count", plugin="echo") == 3
    assert value(latency, "aiplugs_worker_call_duration_seconds_bucket", plugin="echo", le="+Inf") == 3
    assert value(families["aiplugs_worker_calls_in_flight"], "aiplugs_worker_calls_in_flight", plugin="echo",
                 worker="0") == 0
    assert value(families["aiplugs_worker_resident_memory_bytes"], "aiplugs_worker_resident_memory_bytes",
                 plugin="echo", worker="0") > 1024 * 1024
    assert value(families["aiplugs_worker_cpu_seconds"], "aiplugs_worker_cpu_seconds_total", plugin="echo",
                 worker="0") > 0
    assert value(families["aiplugs_worker_startup_seconds"], "aiplugs_worker_startup_seconds", plugin="echo",
                 worker="0") > 0


async def test_the_history_of_a_plugin_as_series(router: Router) -> None:
    now = time.time()
    minute = int(now) // 60 * 60
    MetricsHistory(history_path(router.ctx.workers.state_dir)).write([
        Rollup("echo", minute - 60 * n, samples=12, span_s=60, calls=10 * (n + 1), workers_sum=12, workers_max=1)
        for n in range(4)])
    response = await router.client.get("/api/metrics/echo?since=10m&step=2m", headers=router.admin())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["plugin"] == "echo" and report["step"] == 120
    assert sum(p["calls"] for p in report["points"]) == 100 == report["summary"]["calls"]
    assert all(p["time"] % 120 == 0 for p in report["points"]) and len(report["points"]) in (2, 3)
    recent = (await router.client.get("/api/metrics/echo?since=60s", headers=router.admin())).json()
    assert [p["calls"] for p in recent["points"]] == [20, 10]
    listing = (await router.client.get("/api/metrics", headers=router.admin())).json()
    assert listing["plugins"] == ["echo"] and listing["span"] == [minute - 180, minute]


async def test_the_history_refuses_what_it_cannot_answer(router: Router) -> None:
    assert (await router.client.get("/api/metrics/echo")).status_code == 401  # admin token only
    assert (await router.client.get("/api/metrics/echo", headers=router.page())).status_code == 401
    missing = await router.client.get("/api/metrics/ecko", headers=router.admin())
    assert missing.status_code == 404 and "echo" in missing.json()["error"]["message"]
    bad = await router.client.get("/api/metrics/echo?since=yesterday", headers=router.admin())
    assert bad.status_code == 400 and "'yesterday'" in bad.json()["error"]["message"]
    routed = await router.client.get("/api/metrics/sentiment?since=2026-01-01T00:00:00Z", headers=router.admin())
    assert routed.status_code == 200 and routed.json()["points"] == []  # routed, no history yet


async def test_top_reports_live_counters_with_fresh_cpu_and_memory(router: Router) -> None:
    await router.client.post("/v1/plugins/echo/run", json={"n": 1}, headers=router.page())
    response = await router.client.get("/api/top", headers=router.admin())
    assert response.status_code == 200
    data = response.json()
    plugins = {p["id"]: p for p in data["plugins"]}
    echo = plugins["echo"]
    assert echo["calls"] == 1 and echo["ready"] == 1 and echo["rss_bytes"] > 0 and echo["cpu_s"] > 0
    assert echo["workers"][0]["pid"] and echo["workers"][0]["calls"] == 1
    assert plugins["sentiment"] == {"id": "sentiment", "ready": 0, "workers": []}  # lazy: no worker yet
    assert "chat" not in plugins  # a cloud plugin has no workers
    assert len(data["bounds"]) + 1 == len(echo["latency"])
