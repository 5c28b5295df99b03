"""The in-process event bus: apply, the reconcile loop, models, workers and the proxy publish; the router's
``/api/events`` and the CLI's progress subscribe. Publishing never blocks and is safe from any thread.

Only events of the catalogue (``catalogue.py``) with exactly their fields can be published.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Mapping

from .catalogue import EventType, event_type

__all__ = ["Event", "EventBus", "NULL_BUS", "NullBus", "Subscription"]


@dataclass(frozen=True)
class Event:
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "ts": self.ts, "data": dict(self.data)}


class Subscription:
    """An async iterator of events; when a slow reader falls ``maxsize`` behind, the oldest are dropped."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: collections.deque[Event] = collections.deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.dropped = 0
        self.closed = False

    def _push(self, event: Event) -> None:  # runs on the subscriber's loop
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def close(self) -> None:
        self.closed = True
        self._bus._unsubscribe(self)
        self._loop.call_soon_threadsafe(self._ready.set)


class EventBus:
    def __init__(self, history: int = 500) -> None:
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._history: collections.deque[Event] = collections.deque(maxlen=history)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def publish(self, type: EventType | str, **data: Any) -> Event:
        kind = event_type(type)
        kind.check(data)
        with self._lock:
            event = Event(kind, data, time.time(), next(self._seq))
            self._history.append(event)
            subscribers = list(self._subscribers)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event.to_dict())
            except Exception:  # a listener's bug must not break the publisher
                logging.getLogger(__name__).exception("event listener failed")
        for sub in subscribers:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is sub._loop:
                sub._push(event)
            else:
                try:
                    sub._loop.call_soon_threadsafe(sub._push, event)
                except RuntimeError:  # that loop is closed
                    self._unsubscribe(sub)
        return event

    def subscribe(self, maxsize: int = 1000, replay: bool = False) -> Subscription:
        """Must be called from the loop that will read it. ``replay`` first yields the recent history."""
        sub = Subscription(self, maxsize)
        with self._lock:
            if replay:
                for event in self._history:
                    sub._push(event)
            self._subscribers.add(sub)
        return sub

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Calls ``callback(event_dict)`` in the publisher's thread for every event (the same dict shape a reader
        of ``/api/events`` gets); returns the function that stops it."""
        with self._lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return stop

    def history(self) -> list[Event]:
        with self._lock:
            return list(self._history)

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)


class NullBus(EventBus):
    """Publishes into the void, so code can always call ``events.publish(...)``."""

    def publish(self, type: EventType | str, **data: Any) -> Event:
        kind = event_type(type)
        kind.check(data)  # the same rules, so code tested against the null bus cannot publish nonsense
        return Event(kind, data)


NULL_BUS = NullBus()
