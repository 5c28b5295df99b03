"""Events between plugins: ``ctx.publish(topic, data)`` in one backend (here: ``emit``, to keep apart from the
daemon's own EventBus.publish), ``on_event(event)`` in the backends (and pages) that subscribed to the topic.

An event is ``{"type": topic, "source", "data", "time"}``. Topics are ``<plugin-id>/<name>``; ``aiplugs/…`` is
the system's (``aiplugs/plugin.ready``, ``aiplugs/plugin.failed``, …). Delivery keeps each publisher's order: every
subscriber has one bounded FIFO queue and one task handing its events over one at a time. A slow or dead
subscriber never blocks a publisher: when its queue is full the event is dropped for it and counted. Plugin
subscriptions come from the manifests and exist before any worker starts (``set_plugins`` runs before converge
starts workers), so nothing published while plugins start is lost: it waits in the queue until the subscriber
serves. Page subscriptions live as long as their WebSocket; pages publish under their plugin's namespace, and only
subscribers that declared ``page_events`` receive those.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable

from ..declaration.topics import topic_matches
from ..events import NULL_BUS, EventBus
from ..events.catalogue import PLUGIN_EVENT, PLUGIN_EVENT_DROPPED
from ..plan import PluginSpec

__all__ = ["DEFAULT_QUEUE", "PluginEvents", "SubscriberStats"]

log = logging.getLogger(__name__)
DEFAULT_QUEUE = 1000
SYSTEM = "aiplugs"


@dataclass
class SubscriberStats:
    delivered: int = 0
    dropped: int = 0
    failed: int = 0  # on_event raised, or the backend has none


@dataclass
class _Subscriber:
    name: str  # a plugin id, or "page#<n>"
    patterns: tuple[str, ...]
    page_events: bool
    send: Callable[[dict[str, Any]], Awaitable[None]]
    queue: asyncio.Queue[dict[str, Any]]
    stats: SubscriberStats = field(default_factory=SubscriberStats)
    task: asyncio.Task[None] | None = None

    def wants(self, topic: str, from_page: bool) -> bool:
        if from_page and not self.page_events:
            return False
        return any(topic_matches(p, topic) for p in self.patterns)


class PluginEvents:
    """``deliver(plugin_id, event)`` hands an event to a plugin's ``on_event`` (WorkerManager.deliver);
    ``wait_serving(plugin_id, timeout)`` waits until the plugin has a ready worker."""

    def __init__(self, deliver: Callable[[str, dict[str, Any]], Awaitable[None]],
                 wait_serving: Callable[[str, float], Awaitable[bool]], *, events: EventBus = NULL_BUS,
                 queue_size: int = DEFAULT_QUEUE) -> None:
        self._deliver, self._wait_serving = deliver, wait_serving
        self.events = events
        self.queue_size = queue_size
        self._subscribers: dict[str, _Subscriber] = {}
        self._pages = 0

    # ---- subscriptions ---------------------------------------------------------------------------------------

    def set_plugins(self, plugins: Iterable[PluginSpec]) -> None:
        """The plugin subscriptions of the desired state: new ones start empty, kept ones keep their queue (and
        what waits in it), gone ones stop."""
        wanted = {p.id: p for p in plugins if p.subscribes and p.mode == "local"}
        for name in [n for n in self._subscribers if not n.startswith("page#") and n not in wanted]:
            self._stop(self._subscribers.pop(name))
        for plugin in wanted.values():
            seen = self._subscribers.get(plugin.id)
            if seen is not None:
                seen.patterns, seen.page_events = plugin.subscribes, plugin.page_events
                continue
            self._add(plugin.id, plugin.subscribes, plugin.page_events, self._to_plugin(plugin.id))

    def subscribe_page(self, patterns: Iterable[str], send: Callable[[dict[str, Any]], Awaitable[None]]) -> str:
        """A page's subscription (its WebSocket sends what arrives); returns the handle for ``unsubscribe``."""
        self._pages += 1
        name = f"page#{self._pages}"  # not "page:<id>", the source of what a page publishes
        self._add(name, tuple(patterns), True, send)
        return name

    def unsubscribe(self, name: str) -> None:
        subscriber = self._subscribers.pop(name, None)
        if subscriber is not None:
            self._stop(subscriber)

    def _add(self, name: str, patterns: tuple[str, ...], page_events: bool,
             send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        subscriber = _Subscriber(name, patterns, page_events, send, asyncio.Queue(self.queue_size))
        subscriber.task = asyncio.get_running_loop().create_task(self._pump(subscriber), name=f"events:{name}")
        self._subscribers[name] = subscriber

    @staticmethod
    def _stop(subscriber: _Subscriber) -> None:
        if subscriber.task is not None:
            subscriber.task.cancel()

    # ---- publishing ------------------------------------------------------------------------------------------

    def emit(self, topic: str, data: Any, *, source: str, from_page: bool = False) -> dict[str, Any]:
        """Queues the event for every subscriber that wants it; never waits. Returns the event."""
        event = {"type": topic, "source": source, "data": data, "time": time.time()}
        self.events.publish(PLUGIN_EVENT, topic=topic, source=source, data=data)
        for subscriber in list(self._subscribers.values()):
            if subscriber.name == source or not subscriber.wants(topic, from_page):
                continue  # a plugin does not receive its own events
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.stats.dropped += 1
                self.events.publish(PLUGIN_EVENT_DROPPED, subscriber=subscriber.name, topic=topic,
                                    dropped=subscriber.stats.dropped)
        return event

    def system(self, name: str, data: Any) -> None:
        """A system event, ``aiplugs/<name>``."""
        self.emit(f"{SYSTEM}/{name}", data, source=SYSTEM)

    # ---- delivery --------------------------------------------------------------------------------------------

    def _to_plugin(self, plugin_id: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def send(event: dict[str, Any]) -> None:
            from .workers import WorkerUnavailable

            while True:  # held until the plugin serves: a restart in between loses nothing
                await self._wait_serving(plugin_id, 3600.0)
                try:
                    await self._deliver(plugin_id, event)
                    return
                except WorkerUnavailable:
                    await asyncio.sleep(0.05)

        return send

    async def _pump(self, subscriber: _Subscriber) -> None:
        while True:
            event = await subscriber.queue.get()
            try:
                await subscriber.send(event)
                subscriber.stats.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception as e:  # on_event raised or is missing: counted, the next event goes on
                subscriber.stats.failed += 1
                log.debug("event %s to %s failed: %s", event["type"], subscriber.name, e)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per subscriber: queued, delivered, dropped, failed (status and /metrics)."""
        return {name: {"queued": s.queue.qsize(), "delivered": s.stats.delivered, "dropped": s.stats.dropped,
                       "failed": s.stats.failed} for name, s in sorted(self._subscribers.items())}

    async def close(self) -> None:
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            self._stop(subscriber)
        for subscriber in subscribers:
            if subscriber.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await subscriber.task
