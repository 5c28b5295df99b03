"""Progress: one callback per download that publishes throttled ``model.progress`` events (whoever watches
renders them: ``aiplugs.client.progress``). Transfer code always calls the callback (a null object otherwise).

It speaks the three calls of fsspec's ``Callback`` that transfer code uses (``set_size``, ``relative_update``,
``absolute_update``) without subclassing it: importing fsspec costs ~20 ms, a tenth of ``aiplugs models pull``'s
start-up, and an HTTP pull never needs it."""

from __future__ import annotations

import time

from ...events import EventBus
from ...events.catalogue import MODEL_PROGRESS

__all__ = ["ModelCallback"]

EVENT_INTERVAL = 0.25  # seconds between model.progress events for one download


class ModelCallback:
    """Called from the event loop (HTTP) or a worker thread (fsspec); never from both at once."""

    def __init__(self, filename: str, events: EventBus) -> None:
        self.filename = filename
        self.size: int | None = None
        self.value = 0
        self._events = events
        self._last = 0.0

    def set_size(self, size: int | None) -> None:
        self.size = size
        self.call()

    def absolute_update(self, value: int) -> None:
        self.value = value
        self.call()

    def relative_update(self, inc: int = 1) -> None:
        self.value += inc
        self.call()

    def call(self) -> None:
        now = time.monotonic()
        done = self.size is not None and self.value >= self.size
        if now - self._last >= EVENT_INTERVAL or done:
            self._last = now
            self._events.publish(MODEL_PROGRESS, filename=self.filename, bytes=self.value, total=self.size)
