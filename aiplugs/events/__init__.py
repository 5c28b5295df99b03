"""Events: what happened in the running system — the catalogue of types and the in-process bus."""

from . import catalogue
from .bus import NULL_BUS, Event, EventBus, NullBus, Subscription
from .catalogue import CATALOGUE, EventType, event_type

__all__ = ["CATALOGUE", "Event", "EventBus", "EventType", "NULL_BUS", "NullBus", "Subscription", "catalogue",
           "event_type"]
