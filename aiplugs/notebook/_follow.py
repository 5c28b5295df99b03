"""Following a session's daemon events from a background thread, for the dashboard.

The thread holds one ``/api/events`` stream open and blocks on it, so nothing polls the daemon while it runs;
while none runs it checks ``state.json`` every few seconds (or at once when woken) for one to appear, and when
a stream ends it follows the next daemon. It needs no widgets: what to do with an event, a status or a note is
the dashboard's, handed in as callbacks.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Protocol

from ..events import Event
from ._events import to_event
from .results import StatusView

__all__ = ["EventsFollower", "EventsSource"]

REFRESH_DELAY = 0.3  # seconds: events arriving in a burst cause one status read
NO_DAEMON_RECHECK = 2.0


class EventsSource(Protocol):
    """What following uses of a :class:`~aiplugs.notebook.Session`."""

    def client(self) -> Any: ...  # DaemonClient | None

    def status(self) -> StatusView: ...


class EventsFollower:
    """``on_event`` gets each event, ``refresh`` re-reads the status, ``show_status`` shows one already read,
    ``note`` logs a line of plain text; all run on the follower's threads."""

    def __init__(self, source: EventsSource, *, on_event: Callable[[Event], None], refresh: Callable[[], None],
                 show_status: Callable[[StatusView], None], note: Callable[[str], None]) -> None:
        self.source = source
        self._on_event, self._refresh, self._show_status, self._note = on_event, refresh, show_status, note
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._feed: Any = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None

    @property
    def following(self) -> bool:
        """True while the events stream of a running daemon is open."""
        return self._feed is not None and not self._feed.closed

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._follow, daemon=True, name="aiplugs-dashboard")
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        feed = self._feed
        if feed is not None:
            feed.close()
        if self._timer is not None:
            self._timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        """Looks for a daemon now rather than at the next recheck (one may have just started)."""
        self._wake.set()

    def refresh_soon(self) -> None:
        """One ``refresh`` shortly, however many times this is called meanwhile."""
        with self._lock:
            if self._timer is not None and self._timer.is_alive():
                return
            self._timer = threading.Timer(REFRESH_DELAY, self._refresh)
            self._timer.daemon = True
            self._timer.start()

    def _follow(self) -> None:
        from ..client import DaemonError

        while not self._stopping.is_set():
            client = self.source.client()
            if client is None:
                self._wake.wait(NO_DAEMON_RECHECK)
                self._wake.clear()
                continue
            try:
                self._feed = client.events(convert=to_event)
            except DaemonError:
                self._wake.wait(NO_DAEMON_RECHECK)
                self._wake.clear()
                continue
            self._refresh()
            try:
                for event in self._feed:
                    self._on_event(event)
            except Exception as e:  # the daemon went away mid-stream
                self._note(f"events stream ended: {e}")
            finally:
                self._feed.close()
            if not self._stopping.is_set():
                self._refresh_after_disconnect()

    def _refresh_after_disconnect(self, timeout: float = 15.0) -> None:
        """The stream ends before a stopping daemon has cleared its record: until the daemon is gone or answers
        again, a status read fails; try again briefly instead of showing that failure."""
        deadline = time.monotonic() + timeout
        while not self._stopping.is_set() and time.monotonic() < deadline:
            try:
                status = self.source.status()
            except Exception:
                self._wake.wait(0.2)
                continue
            self._show_status(status)
            return
        self._refresh()
