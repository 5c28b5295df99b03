"""Events: what happened in the running system, published on an in-process bus and served as SSE."""

from .bus import NULL_BUS, Event, EventBus, NullBus, Subscription

__all__ = ["Event", "EventBus", "NULL_BUS", "NullBus", "Subscription"]
