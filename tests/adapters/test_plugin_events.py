"""Events between plugins through real worker processes: fan-out in each publisher's order, events held for a
subscriber that is not up yet, a slow subscriber that drops (counted) without ever blocking the publisher, page
events only for plugins that accept them, and system events."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from aiplugs.adapters.plugin_events import PluginEvents
from aiplugs.adapters.workers import WorkerManager
from aiplugs.events import EventBus
from aiplugs.events.catalogue import PLUGIN_EVENT, PLUGIN_EVENT_DROPPED
from aiplugs.plan import PluginSpec, WorkerSpec

BACKENDS = Path(__file__).resolve().parent / "event_backends"


def worker(name: str, plugin_id: str, state: Path) -> WorkerSpec:
    env = {"AIPLUGS_PLUGIN_ID": plugin_id, "AIPLUGS_SETTINGS": "{}", "AIPLUGS_DATA_DIR": str(state / plugin_id)}
    digest = hashlib.sha256(f"{name}{plugin_id}".encode()).hexdigest()[:16]
    return WorkerSpec(plugin_id, 1, BACKENDS / f"{name}.py", BACKENDS, tuple(sorted(env.items())), (), (), 30.0,
                      digest, data_dir=state / "data" / plugin_id, cache_dir=state / "cache" / plugin_id)


def plugin(plugin_id: str, *subscribes: str, page_events: bool = False) -> PluginSpec:
    return PluginSpec(plugin_id, plugin_id, "1.0.0", "", "local", BACKENDS, (), "eager", subscribes=subscribes,
                      page_events=page_events)


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[tuple[WorkerManager, PluginEvents, EventBus]]:
    bus = EventBus()
    manager = WorkerManager(tmp_path / "state", events=bus, grace_s=3.0, ready_timeout_s=30.0)
    events = PluginEvents(manager.deliver, manager.wait_serving, events=bus, queue_size=5)
    manager.on_publish = lambda pid, topic, data: events.emit(topic, data, source=pid)
    try:
        yield manager, events, bus
    finally:
        await events.close()
        await manager.close()


async def seen_by(manager: WorkerManager, plugin_id: str, count: int, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        seen = await manager.call(plugin_id, None)
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)


async def test_fan_out_keeps_the_publishers_order_and_holds_events_until_a_subscriber_serves(
        system, tmp_path: Path) -> None:
    manager, events, bus = system
    events.queue_size = 100
    events.set_plugins([plugin("pub"), plugin("all", "pub/*"), plugin("ticks", "pub/tick")])
    await manager.start(worker("publisher", "pub", tmp_path), 0)
    await manager.start(worker("recorder", "all", tmp_path), 0)
    # "ticks" is not up yet: what is published now waits for it
    assert await manager.call("pub", {"n": 20}, tool="burst") == 20
    assert await manager.call("pub", {"n": 3, "name": "tock"}, tool="burst") == 3
    await manager.start(worker("recorder", "ticks", tmp_path), 0)
    everything = await seen_by(manager, "all", 23)
    assert [(e["type"], e["data"]["i"]) for e in everything] == (
        [("pub/tick", i) for i in range(20)] + [("pub/tock", i) for i in range(3)])
    assert {e["source"] for e in everything} == {"pub"} and {e["me"] for e in everything} == {"all"}
    ticks = await seen_by(manager, "ticks", 20)
    assert [e["data"]["i"] for e in ticks] == list(range(20))  # only what it subscribed to
    assert events.stats()["ticks"] == {"queued": 0, "delivered": 20, "dropped": 0, "failed": 0}
    published = [e for e in bus.history() if e.type == PLUGIN_EVENT]
    assert len(published) == 23 and published[0].data == {"topic": "pub/tick", "source": "pub", "data": {"i": 0}}


async def test_a_slow_subscriber_drops_what_does_not_fit_and_never_blocks_the_publisher(system, tmp_path) -> None:
    manager, events, bus = system  # queue_size 5
    events.set_plugins([plugin("slow", "pub/*"), plugin("fast", "pub/*")])
    await manager.start(worker("slow", "slow", tmp_path), 0)
    await manager.start(worker("recorder", "fast", tmp_path), 0)
    started = time.monotonic()
    for i in range(30):
        events.emit("pub/tick", {"i": i}, source="pub")
        if i % 5 == 4:
            await asyncio.sleep(0.05)  # the fast one keeps up; the slow one (0.2 s per event) cannot
    assert time.monotonic() - started < 1.0  # publishing never waited for a subscriber
    fast = await seen_by(manager, "fast", 30)
    assert [e["data"]["i"] for e in fast] == list(range(30))
    stats = events.stats()
    assert stats["slow"]["dropped"] >= 15 and stats["fast"]["dropped"] == 0
    assert any(e.type == PLUGIN_EVENT_DROPPED and e.data["subscriber"] == "slow" for e in bus.history())
    slow = await seen_by(manager, "slow", 30 - stats["slow"]["dropped"])
    got = [d["i"] for d in slow]
    assert got == sorted(got) and len(got) == 30 - stats["slow"]["dropped"]  # what it got, in order


async def test_page_events_reach_only_plugins_that_accept_them_and_pages(system, tmp_path: Path) -> None:
    manager, events, _ = system
    events.queue_size = 100
    events.set_plugins([plugin("open", "pub/*", page_events=True), plugin("closed", "pub/*")])
    await manager.start(worker("recorder", "open", tmp_path), 0)
    await manager.start(worker("recorder", "closed", tmp_path), 0)
    got: list[dict[str, Any]] = []

    async def page(event: dict[str, Any]) -> None:
        got.append(event)

    handle = events.subscribe_page(["pub/*", "aiplugs/*"], page)
    events.emit("pub/clicked", {"x": 1}, source="page:pub", from_page=True)
    events.emit("pub/tick", {"i": 0}, source="pub")
    events.system("plugin.ready", {"plugin_id": "open", "reason": None})
    assert [e["type"] for e in await seen_by(manager, "open", 2)] == ["pub/clicked", "pub/tick"]
    assert [e["type"] for e in await seen_by(manager, "closed", 1)] == ["pub/tick"]
    for _ in range(100):
        if len(got) == 3:
            break
        await asyncio.sleep(0.02)
    assert [(e["type"], e["source"]) for e in got] == [("pub/clicked", "page:pub"), ("pub/tick", "pub"),
                                                       ("aiplugs/plugin.ready", "aiplugs")]
    events.unsubscribe(handle)
    events.emit("pub/tick", {"i": 1}, source="pub")
    await asyncio.sleep(0.1)
    assert len(got) == 3 and "page#1" not in events.stats()


async def test_subscriptions_follow_the_desired_state(system, tmp_path: Path) -> None:
    manager, events, _ = system
    events.set_plugins([plugin("a", "x/*"), plugin("b", "y/*")])
    assert set(events.stats()) == {"a", "b"}
    events.emit("x/1", 1, source="x")  # waits in a's queue: a is not up
    events.set_plugins([plugin("a", "x/*", "z/*")])
    assert set(events.stats()) == {"a"} and events.stats()["a"]["queued"] == 1  # kept with its queue
    events.emit("x/2", 2, source="a")  # a plugin does not receive its own events
    assert events.stats()["a"]["queued"] == 1
