"""Feed: one server-sent-event stream from the daemon, usable with ``for`` and with ``async for``.

The stream is read with blocking stdlib HTTP. ``for`` reads it in the caller's thread; ``async for`` reads it in a
helper thread and hands items to the event loop, so a notebook's loop never blocks. ``close()`` works from any
thread: it shuts the socket down, which wakes a reader blocked on it (no polling, no timeouts to wait out).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
from typing import Any, Callable, Iterator

from ..util.sse import parse
from .errors import DaemonError

__all__ = ["Feed", "watch"]

_END = object()


class Feed:
    """Items of one SSE response. The request is sent at construction, so the daemon has subscribed us before
    the constructor returns and nothing published afterwards is missed."""

    def __init__(self, client: Any, method: str, path: str, body: Any = None, *, page: bool = False,
                 convert: Callable[[Any], Any] | None = None, timeout: float | None = None) -> None:
        """``client``: a DaemonClient (its ``host``, ``port`` and ``headers()`` are all a feed needs)."""
        self._convert = convert or (lambda item: item)
        self._call = page  # a plugin call's stream ends with the response, or fails with `event: error`
        self._path = path
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn = http.client.HTTPConnection(client.host, client.port, timeout=timeout)
        headers = client.headers(page=page, accept="text/event-stream", with_body=body is not None)
        data = None if body is None else json.dumps(body).encode()
        try:
            self._conn.request(method, path, body=data, headers=headers)
            self._response = self._conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            self._conn.close()
            raise DaemonError(f"daemon at {client.host}:{client.port} did not answer {method} {path}: {e}") from None
        if self._response.status >= 400:
            detail = self._response.read()[:500].decode("utf-8", "replace")
            self._conn.close()
            raise DaemonError(f"{method} {path} → {self._response.status}: {detail}", self._response.status)
        self._items = self._read()

    # ---- sync ------------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._closed.is_set():
            raise StopIteration
        try:
            item = next(self._items)
        except StopIteration:
            self.close()
            raise
        except Exception:
            if self._closed.is_set():  # close() from another thread: http.client may fail in odd ways
                raise StopIteration from None
            self.close()
            raise
        return self._convert(item)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- async -----------------------------------------------------------------------------------------------

    def __aiter__(self) -> Feed:
        if self._thread is None:
            self._queue: asyncio.Queue[Any] = asyncio.Queue()
            loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._pump, args=(loop,), daemon=True, name="aiplugs-feed")
            self._thread.start()
        return self

    async def __anext__(self) -> Any:
        if self._thread is None:
            self.__aiter__()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later calls end too
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(_END)
            raise item
        return item

    async def __aenter__(self) -> Feed:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def aclose(self) -> None:
        self.close()

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(self._queue.put_nowait, item)
            except RuntimeError:  # the loop is gone
                self.close()

        try:
            for item in self:
                put(item)
        except BaseException as e:  # handed to the reader, which raises it
            put(e)
        put(_END)

    # ---- both ------------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Ends the stream; a reader blocked in another thread wakes up and stops."""
        if self._closed.is_set():
            return
        self._closed.set()
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._conn.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _read(self) -> Iterator[Any]:
        lines = (raw.decode("utf-8") for raw in iter(self._response.readline, b""))
        for event in parse(lines):
            item = event.json()
            if self._call and event.event == "error":
                detail = item.get("message") if isinstance(item, dict) else item
                kind = f"{item.get('type')}: " if isinstance(item, dict) and item.get("type") else ""
                raise DaemonError(f"the stream of {self._path} failed: {kind}{detail}", 0, item)
            yield item


class watch:
    """``with watch(client, callback):`` feeds every daemon event to ``callback`` from a helper thread while the
    body runs; the events stream is connected before the body starts."""

    def __init__(self, client: Any, callback: Any) -> None:
        self.client, self.callback = client, callback
        self._feed = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> watch:
        self._feed = self.client.events()
        self._thread = threading.Thread(target=self._run, daemon=True, name="aiplugs-watch")
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for event in self._feed:
                self.callback(event)
        except Exception:
            return

    def __exit__(self, *exc: object) -> None:
        self._feed.close()
        self._thread.join(timeout=5)
