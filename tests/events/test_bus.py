"""EventBus: ordered delivery, replay, bounded queues for slow readers, publishing from other threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiplugs.events import NULL_BUS, Event, EventBus, NullBus
from aiplugs.events.catalogue import APPLY_FINISHED, MODEL_PROGRESS, PROXY_STOPPED, WORKER_EXITED, WORKER_STARTING


def progress(bus: EventBus, n: int) -> Event:
    return bus.publish(MODEL_PROGRESS, filename="m.bin", bytes=n, total=100)


async def take(sub, n: int) -> list[Event]:  # type: ignore[no-untyped-def]
    out = []
    async for event in sub:
        out.append(event)
        if len(out) == n:
            break
    return out


async def test_subscribers_get_events_in_order_with_sequence_numbers() -> None:
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish(WORKER_STARTING, plugin_id="p", index=0)
    bus.publish(WORKER_EXITED, plugin_id="p", index=0, pid=9, code=1, signal=None)
    for sub in (a, b):
        events = await asyncio.wait_for(take(sub, 2), 5)
        assert [e.type for e in events] == ["worker.starting", "worker.exited"]
        assert [e.seq for e in events] == [1, 2]
        assert events[1].to_dict()["data"] == {"plugin_id": "p", "index": 0, "pid": 9, "code": 1, "signal": None}
        assert set(events[0].to_dict()) == {"seq", "type", "ts", "data"}


async def test_replay_yields_history_first() -> None:
    bus = EventBus(history=2)
    for n in range(3):
        progress(bus, n)
    sub = bus.subscribe(replay=True)
    bus.publish(PROXY_STOPPED)
    events = await asyncio.wait_for(take(sub, 3), 5)
    assert [(e.type, e.data.get("bytes")) for e in events] == [("model.progress", 1), ("model.progress", 2),
                                                               ("proxy.stopped", None)]
    assert [e.seq for e in bus.history()] == [3, 4]


async def test_slow_reader_drops_oldest_and_counts() -> None:
    bus = EventBus()
    sub = bus.subscribe(maxsize=3)
    for n in range(5):
        progress(bus, n)
    assert sub.dropped == 2
    events = await asyncio.wait_for(take(sub, 3), 5)
    assert [e.data["bytes"] for e in events] == [2, 3, 4]


async def test_publish_from_another_thread_wakes_the_reader() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    thread = threading.Thread(target=lambda: [progress(bus, n) for n in range(50)])
    thread.start()
    events = await asyncio.wait_for(take(sub, 50), 5)
    thread.join()
    assert [e.data["bytes"] for e in events] == list(range(50))


async def test_close_ends_iteration_and_unsubscribes() -> None:
    bus = EventBus()
    sub = bus.subscribe()

    async def drain() -> list[Event]:
        return [e async for e in sub]

    task = asyncio.create_task(drain())
    bus.publish(PROXY_STOPPED)
    await asyncio.sleep(0.01)
    sub.close()
    assert [e.type for e in await asyncio.wait_for(task, 5)] == ["proxy.stopped"]
    bus.publish(PROXY_STOPPED)
    assert sub.closed and list(sub._queue) == []


def test_publish_without_subscribers_or_loop_is_fine() -> None:
    bus = EventBus()
    event = bus.publish("daemon.stopping", pid=1)
    assert event.seq == 1 and bus.history() == [event]


def test_publish_to_a_subscriber_whose_loop_closed_unsubscribes_it() -> None:
    bus = EventBus()
    loop = asyncio.new_event_loop()

    async def make():  # type: ignore[no-untyped-def]
        return bus.subscribe()

    sub = loop.run_until_complete(make())
    loop.close()
    bus.publish(PROXY_STOPPED)
    assert sub not in bus._subscribers


def test_null_bus_publishes_into_the_void() -> None:
    assert isinstance(NULL_BUS, NullBus)
    event = NULL_BUS.publish(APPLY_FINISHED, ok=True, failures=[], seconds=0.1)
    assert event.type == "apply.finished" and event.data == {"ok": True, "failures": [], "seconds": 0.1}
    assert NULL_BUS.history() == []


def test_only_catalogue_events_with_exactly_their_fields_can_be_published() -> None:
    for bus in (EventBus(), NULL_BUS):
        with pytest.raises(ValueError, match="unknown event type 'plugin.exploded'"):
            bus.publish("plugin.exploded")
        with pytest.raises(ValueError, match=r"missing \['total'\], unexpected \['n'\]"):
            bus.publish(MODEL_PROGRESS, filename="m", bytes=1, n=2)


def test_listeners_get_every_event_as_a_dict_in_the_publisher_s_thread() -> None:
    bus = EventBus()
    seen: list[dict] = []
    stop = bus.listen(seen.append)
    bus.listen(lambda event: 1 / 0)  # a broken listener is logged, never raised into the publisher
    progress(bus, 7)
    stop()
    progress(bus, 8)
    assert [(e["type"], e["data"]["bytes"]) for e in seen] == [("model.progress", 7)]
