"""Daemon events as the notebook sees them: ``Session.events()`` and the dashboard both read ``/api/events``."""

from __future__ import annotations

from typing import Any, Mapping

from ..events import Event

__all__ = ["to_event"]


def to_event(item: Any) -> Event:
    """An SSE item of ``/api/events`` as an :class:`Event` (unknown shapes become ``Event("message", ...)``)."""
    if isinstance(item, Mapping) and "type" in item:
        data = item.get("data")
        if not isinstance(data, Mapping):
            data = {k: v for k, v in item.items() if k not in ("type", "ts", "seq")}
        return Event(str(item["type"]), dict(data), float(item.get("ts") or 0.0), int(item.get("seq") or 0))
    return Event("message", {"value": item})
