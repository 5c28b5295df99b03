"""The router's response cache against real workers: a hit skips the worker (the backend counts its calls),
errors and streams are never kept, the cache is bounded, off by default, and new workers drop it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from aiplugs.adapters.router.cache import ResponseCache, ResponseCaches, payload_key

from .conftest import OWN_BACKENDS, Router, _local

TOOLS = [{"name": "run"}, {"name": "items"}, {"name": "calls"}]


@pytest.fixture
def project_dir(project_dir: Path) -> Path:
    _local("counted", "counted", project_dir / "plugins", OWN_BACKENDS, tools=TOOLS)
    return project_dir


def cached(router: Router, ttl: float = 60.0, entries: int = 1024) -> None:
    route = router.ctx.route("counted")
    router.ctx.set_route(dataclasses.replace(route, cache_ttl_s=ttl, cache_max_entries=entries,
                                             config_hash=f"{route.config_hash}-cache{ttl}-{entries}"))


async def call(router: Router, payload: Any, tool: str = "run", **headers: str) -> tuple[int, Any, str | None]:
    path = "/v1/plugins/counted/run" if tool == "run" else f"/v1/plugins/counted/tools/{tool}"
    response = await router.client.post(path, json=payload, headers=router.page(**headers))
    body = response.json() if "json" in response.headers.get("content-type", "") else response.text
    return response.status_code, body, response.headers.get("x-aiplugs-cache")


async def backend_calls(router: Router) -> int:
    """Asked of the worker itself, past the router (and its cache)."""
    return await router.ctx.workers.call("counted", {}, tool="calls")


async def test_a_hit_is_answered_without_the_worker(router: Router) -> None:
    cached(router)
    status, first, how = await call(router, {"a": 1, "b": [1, 2]})
    assert (status, how) == (200, None) and first["n"] == 1
    status, again, how = await call(router, {"b": [1, 2], "a": 1})  # the same payload, keys in another order
    assert (status, how, again) == (200, "hit", first)
    assert await backend_calls(router) == 1  # the worker saw the first call only
    status, other, how = await call(router, {"a": 2})
    assert how is None and other["n"] == 2
    stats = router.server.app.state.caches.stats("counted")
    assert stats["entries"] == 2 and stats["hits"] == 1


async def test_errors_and_streams_are_never_cached(router: Router) -> None:
    cached(router)
    for _ in range(2):
        status, body, how = await call(router, {"fail": True})
        assert status == 500 and how is None and body["error"]["type"] == "ValueError"
    assert await backend_calls(router) == 2
    for _ in range(2):
        status, body, how = await call(router, {"count": 2}, "items")
        assert status == 200 and how is None and body.count("data:") == 2
    assert await backend_calls(router) == 4
    await call(router, {"sse": 1})  # a plain answer: kept ...
    status, body, how = await call(router, {"sse": 1}, accept="text/event-stream")  # ... but SSE asked for
    assert how is None and body.startswith("data:") and await backend_calls(router) == 6


async def test_the_cache_is_bounded(router: Router) -> None:
    cached(router, entries=2)
    for i in range(3):
        await call(router, {"i": i})
    assert router.server.app.state.caches.stats("counted")["entries"] == 2
    assert (await call(router, {"i": 0}))[2] is None  # the least recently used went first
    assert (await call(router, {"i": 2}))[2] == "hit"


async def test_off_by_default_and_repeats_are_counted_anyway(router: Router) -> None:
    for _ in range(3):
        status, _, how = await call(router, {"same": True})
        assert status == 200 and how is None
    await call(router, {"different": True})
    assert await backend_calls(router) == 4
    counts = list(router.server.app.state.caches.repeats("counted").values())
    assert counts == [(4, 2)]  # four calls, two of them repeats


async def test_a_new_worker_drops_the_cache(router: Router) -> None:
    cached(router)
    first = (await call(router, {"x": 1}))[1]
    assert (await call(router, {"x": 1}))[2] == "hit"
    spec = router.ctx.desired.worker("counted")
    await router.ctx.workers.restart(spec, 0)
    status, fresh, how = await call(router, {"x": 1})
    assert how is None and fresh["n"] == 1 != first["n"] + 1  # a new process: its counter starts again


def test_entries_expire_after_the_ttl() -> None:
    now = [100.0]
    cache = ResponseCache(ttl_s=10, max_entries=8, clock=lambda: now[0])
    key = payload_key("run", {"q": 1})
    cache.put(key, b"{}")
    now[0] = 109.9
    assert cache.get(key) == b"{}"
    now[0] = 110.0
    assert cache.get(key) is None and len(cache) == 0
    assert payload_key("run", {"a": 1, "b": 2}) == payload_key("run", {"b": 2, "a": 1}) != payload_key("x", {"a": 1})


def test_repeats_count_within_their_window_per_minute() -> None:
    mono, wall = [600.0], [600.0]
    caches = ResponseCaches(repeat_window_s=30, clock=lambda: mono[0], wall=lambda: wall[0])
    route: Any = type("R", (), {"plugin_id": "p", "cache_ttl_s": 0.0, "relay": None})()
    caches.lookup(route, "run", {"a": 1})
    mono[0] = wall[0] = 620.0
    caches.lookup(route, "run", {"a": 1})  # 20 s later: a repeat
    mono[0], wall[0] = 700.0, 700.0
    caches.lookup(route, "run", {"a": 1})  # 80 s after: not one
    assert caches.repeats("p") == {600: (2, 1), 660: (1, 0)}
