"""The /api routes, SSE events, metrics and the control routes (with a plain-object controller)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from aiplugs.adapters.router.metrics import BUCKETS
from aiplugs.errors import ConfigError, Problem

from .conftest import API_KEY


class RecordingController:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def status(self) -> dict[str, Any]:
        self.calls.append(("status", None))
        return {"daemon": "running"}

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("apply", body))
        if body.get("bad"):
            raise ConfigError([Problem("aiplugs.toml", "must be >= 0, got -1", "plugins.x.workers", 3, 9)])
        return {"applied": True}

    async def down(self) -> dict[str, Any]:
        self.calls.append(("down", None))
        return {"stopping": True}

    async def restart(self, plugin_id: str) -> dict[str, Any]:
        self.calls.append(("restart", plugin_id))
        return {"restarted": plugin_id}

    async def pull_models(self, keys: list[str]) -> dict[str, Any]:
        self.calls.append(("pull", keys))
        return {"pulled": keys}


async def test_health_state_and_plugins(router):
    r = await router.client.get("/api/health")
    assert r.status_code == 200 and r.json()["ok"] is True
    await router.client.post("/v1/plugins/echo/run", json={}, headers=router.page())
    state = (await router.client.get("/api/state", headers=router.admin())).json()
    assert state["desired"]["cloud"]["api_key"] == "**********" and API_KEY not in json.dumps(state)
    assert state["routes"]["echo"] == {"mode": "local", "assets": ["content.js"], "lazy": True}
    assert [(w["plugin_id"], w["alive"]) for w in state["workers"]] == [("echo", True)]
    plugins = {p["id"]: p for p in (await router.client.get("/api/plugins", headers=router.admin())).json()["plugins"]}
    assert plugins["echo"]["workers"]["ready"] == 1 and plugins["echo"]["assets"] == ["content.js"]
    assert plugins["chat"]["mode"] == "cloud" and plugins["chat"]["relay"]["configured"] is True
    assert plugins["word-count"]["assets"] == ["content.css", "content.js"]


async def test_events_are_streamed_as_sse_without_secrets(router):
    async with router.client.stream("GET", "/api/events", headers=router.admin()) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.aiter_lines()
        assert (await asyncio.wait_for(lines.__anext__(), 5)).startswith("retry:")
        router.ctx.events.publish("model.failed", filename="m.bin", url="u", error=f"key {API_KEY} refused",
                                  bytes=0, total=None)
        data = None
        while data is None:
            line = await asyncio.wait_for(lines.__anext__(), 5)
            if line.startswith("event: "):
                assert line == "event: model.failed"
            if line.startswith("data: "):
                data = json.loads(line[6:])
    assert data["type"] == "model.failed" and data["data"]["filename"] == "m.bin"
    assert data["data"]["error"] == "key ********** refused" and API_KEY not in json.dumps(data)


async def test_metrics_count_calls_per_plugin_and_mode(router):
    await router.client.post("/v1/plugins/echo/run", json={}, headers=router.page())
    await router.client.post("/v1/plugins/raises/run", json={}, headers=router.page())
    await router.client.post("/v1/plugins/broken/run", json={"messages": []}, headers=router.page())
    r = await router.client.get("/metrics", headers=router.admin())
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert {name: families[name].type for name in ("aiplugs_requests", "aiplugs_request_errors",
                                                   "aiplugs_request_duration_seconds", "aiplugs_worker_restarts",
                                                   "aiplugs_workers_ready", "aiplugs_workers_desired",
                                                   "aiplugs_model_bytes", "aiplugs_websocket_connections")} == {
        "aiplugs_requests": "counter", "aiplugs_request_errors": "counter",
        "aiplugs_request_duration_seconds": "histogram", "aiplugs_worker_restarts": "counter",
        "aiplugs_workers_ready": "gauge", "aiplugs_workers_desired": "gauge", "aiplugs_model_bytes": "gauge",
        "aiplugs_websocket_connections": "gauge"}
    values = {(s.name, frozenset(s.labels.items())): s.value for f in families.values() for s in f.samples}

    def value(name: str, **labels: str) -> float:
        return values[name, frozenset(labels.items())]

    assert value("aiplugs_requests_total", plugin="echo", mode="local", code="200") == 1
    assert value("aiplugs_requests_total", plugin="raises", mode="local", code="500") == 1
    assert value("aiplugs_request_errors_total", plugin="broken", mode="cloud") == 1
    assert value("aiplugs_request_errors_total", plugin="echo", mode="local") == 0
    assert value("aiplugs_request_duration_seconds_count", plugin="echo", mode="local") == 1
    assert value("aiplugs_request_duration_seconds_bucket", plugin="echo", mode="local", le="+Inf") == 1
    bounds = [s.labels["le"] for s in families["aiplugs_request_duration_seconds"].samples
              if s.name.endswith("_bucket") and s.labels["plugin"] == "echo"]
    assert bounds == [*(str(b) for b in BUCKETS), "+Inf"]
    assert value("aiplugs_worker_restarts_total", plugin="echo") == 0
    assert value("aiplugs_model_bytes", model="sentiment-lexicon-v1.tsv") == 910
    assert value("aiplugs_websocket_connections") == 0
    assert not any(name.startswith("aiplugs_proxy_") for name in families)  # no proxy runs beside this router


async def test_control_routes_call_the_controller(router):
    r = await router.client.get("/api/status", headers=router.admin())
    assert r.status_code == 503  # no controller yet
    controller = RecordingController()
    router.ctx.control = controller
    assert (await router.client.get("/api/status", headers=router.admin())).json() == {"daemon": "running"}
    assert (await router.client.post("/api/apply", json={"config": "x"}, headers=router.admin())).json() == \
        {"applied": True}
    bad = await router.client.post("/api/apply", json={"bad": True}, headers=router.admin())
    assert bad.status_code == 400 and bad.json()["error"]["problems"] == \
        ["aiplugs.toml:3:9: plugins.x.workers: must be >= 0, got -1"]
    assert (await router.client.post("/api/down", headers=router.admin())).json() == {"stopping": True}
    r = await router.client.post("/api/plugins/echo/restart", headers=router.admin())
    assert r.json() == {"restarted": "echo"}
    r = await router.client.post("/api/models/pull", json={"keys": ["SENTIMENT_LEXICON"]}, headers=router.admin())
    assert r.json() == {"pulled": ["SENTIMENT_LEXICON"]}
    r = await router.client.post("/api/models/pull", json={"keys": "x"}, headers=router.admin())
    assert r.status_code == 400
    assert [c[0] for c in controller.calls] == ["status", "apply", "apply", "down", "restart", "pull"]
