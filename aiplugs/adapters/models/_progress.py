"""Progress: one fsspec callback per download that publishes throttled ``model.progress`` events (whoever watches
renders them: ``aiplugs.client.progress``). Transfer code always calls the callback (a null object otherwise)."""

from __future__ import annotations

import time
from typing import Any

from fsspec.callbacks import Callback

from ...events import EventBus
from ...events.catalogue import MODEL_PROGRESS

__all__ = ["ModelCallback"]

EVENT_INTERVAL = 0.25  # seconds between model.progress events for one download


class ModelCallback(Callback):
    """Called from the event loop (HTTP) or a worker thread (fsspec); never from both at once."""

    def __init__(self, filename: str, events: EventBus) -> None:
        super().__init__()
        self.filename = filename
        self._events = events
        self._last = 0.0

    def call(self, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        done = self.size is not None and self.value >= self.size
        if now - self._last >= EVENT_INTERVAL or done:
            self._last = now
            self._events.publish(MODEL_PROGRESS, filename=self.filename, bytes=self.value, total=self.size)
