"""Events into real workers: deliver() calls on_event (with ctx when it takes it) and waits for it;
wait_serving() lets a caller hold events until a worker is ready."""

from __future__ import annotations

import asyncio

import pytest

from aiplugs.adapters.workers import BackendError, WorkerUnavailable

EVENT = {"type": "page.loaded", "source": "aiplugs", "data": {"url": "https://example.org/"}, "time": 1.5}


async def test_deliver_calls_on_event_with_ctx(manager, make_spec):
    await manager.start(make_spec("events_ctx"), 0)
    await manager.deliver("events-ctx", EVENT)
    await manager.deliver("events-ctx", {**EVENT, "type": "second"})
    seen = await manager.call("events-ctx", {})
    assert seen == [{"event": EVENT, "plugin_id": "events-ctx"},
                    {"event": {**EVENT, "type": "second"}, "plugin_id": "events-ctx"}]


async def test_deliver_calls_on_event_without_ctx(manager, make_spec):
    await manager.start(make_spec("events_plain"), 0)
    await manager.deliver("events-plain", EVENT)
    assert await manager.call("events-plain", {}) == [EVENT]


async def test_an_on_event_that_raises_is_a_backend_error(manager, make_spec):
    await manager.start(make_spec("events_ctx"), 0)
    with pytest.raises(BackendError) as info:
        await manager.deliver("events-ctx", {**EVENT, "type": "boom"})
    assert info.value.type_name == "RuntimeError" and info.value.detail == "cannot handle boom"
    assert await manager.call("events-ctx", {}) == []


async def test_a_backend_without_on_event_answers_no_event_handler(manager, make_spec):
    await manager.start(make_spec("echo_sync"), 0)
    with pytest.raises(BackendError) as info:
        await manager.deliver("echo-sync", EVENT)
    assert info.value.type_name == "NoEventHandler" and "on_event" in info.value.detail


async def test_deliver_without_a_ready_worker_is_unavailable(manager, make_spec):
    with pytest.raises(WorkerUnavailable, match="no ready worker to deliver 'page.loaded'"):
        await manager.deliver("events-ctx", EVENT)
    spec = make_spec("events_ctx")
    await manager.start(spec, 0)
    await manager.stop("events-ctx", 0)
    with pytest.raises(WorkerUnavailable):
        await manager.deliver("events-ctx", EVENT)


async def test_wait_serving_returns_once_a_worker_is_ready(manager, make_spec):
    waiting = asyncio.create_task(manager.wait_serving("events-ctx", 30))
    await asyncio.sleep(0)  # it waits on a pool that does not exist yet
    assert not waiting.done()
    await manager.start(make_spec("events_ctx"), 0)
    assert await asyncio.wait_for(waiting, 5) is True
    assert await manager.wait_serving("events-ctx", 0.01) is True  # already serving: at once
    await manager.deliver("events-ctx", EVENT)


async def test_wait_serving_gives_up_after_its_timeout(manager):
    assert await manager.wait_serving("never-started", 0.05) is False
