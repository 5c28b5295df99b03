"""Progress: one fsspec callback per download that feeds a ``tqdm.auto`` bar (a terminal bar, or an ipywidgets bar
in a notebook) and throttled ``model.progress`` events. Transfer code always calls the callback (null object)."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from fsspec.callbacks import Callback, NoOpCallback

from ...events import EventBus

__all__ = ["NULL_CALLBACK", "ModelCallback", "want_bars"]

NULL_CALLBACK = NoOpCallback()
EVENT_INTERVAL = 0.25  # seconds between model.progress events for one download


def want_bars(progress: bool | None) -> bool:
    """``None`` means: bars when a person watches (stderr is a terminal, or we run inside a Jupyter kernel)."""
    if progress is not None:
        return progress
    if "ipykernel" in sys.modules:
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None and getattr(shell, "kernel", None) is not None:
                return True
        except ImportError:
            pass
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class ModelCallback(Callback):
    """Called from the event loop (HTTP) or a worker thread (fsspec); never from both at once."""

    def __init__(self, filename: str, events: EventBus, bars: bool) -> None:
        super().__init__()
        self.filename = filename
        self._events = events
        self._bars = bars
        self._bar: Any = None
        self._last = 0.0
        self._lock = threading.Lock()

    def call(self, *args: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        done = self.size is not None and self.value >= self.size
        if now - self._last >= EVENT_INTERVAL or done:
            self._last = now
            self._events.publish("model.progress", filename=self.filename, bytes=self.value, total=self.size)
        if self._bars:
            with self._lock:
                if self._bar is None:
                    from tqdm.auto import tqdm

                    self._bar = tqdm(total=self.size, desc=self.filename, unit="B", unit_scale=True,
                                     unit_divisor=1024, leave=True, dynamic_ncols=True)
                if self._bar.total != self.size:
                    self._bar.total = self.size
                self._bar.update(self.value - self._bar.n)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
