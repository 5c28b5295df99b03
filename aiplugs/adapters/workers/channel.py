"""The local channel between the manager and one worker: a ``socketpair`` carrying length-prefixed JSON frames.

Why a socketpair rather than loopback HTTP or a named Unix socket: the worker inherits its end as a file
descriptor, so there is no port to allocate, no path to clean up (or to overflow the 108-byte ``sun_path`` limit
under deep state dirs), and no other local process can connect to a worker. It is also the faster channel:
``benchmarks/bench_router.py`` prints a sequential round trip over it (``WorkerManager.call``, ~0.1 ms p50 on
the 2-core CI box, including the worker's thread hop) next to a bare loopback HTTP echo on uvicorn (~0.8 ms), and
the worker need not import an HTTP server (cold start ~100 ms). The frame format lives in protocol.py, the frames
in harness.py's docstring (the worker side must import nothing but the standard library).

One channel multiplexes many concurrent calls by id; each call gets its own deque of frames. Frames with id 0
belong to no call: ``hello`` once, and ``publish`` whenever the backend calls ``ctx.publish``. A result frame
also keeps its value's JSON text (``"text"``, see ``protocol.result_text``), so the router can answer with it
instead of encoding the value again; a payload given as ``protocol.Encoded`` goes out as its text.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import socket
from typing import Any, Callable

from .protocol import FrameLink, encode_frame, result_text

__all__ = ["Call", "Channel", "ChannelClosed"]

CLOSED = {"kind": "closed"}
log = logging.getLogger(__name__)


class ChannelClosed(ConnectionError):
    """The worker's end went away (it exited or crashed)."""


class Call:
    """The frames answering one request, in order; ``close()`` when done (cancels it in the worker if unfinished).

    A deque plus one waiter future rather than an asyncio.Queue under ``wait_for``: this sits on every request's
    path, and ``wait_for`` costs a task per wait in Python 3.11.
    """

    def __init__(self, channel: Channel, call_id: int) -> None:
        self.channel = channel
        self.id = call_id
        self.frames: collections.deque[dict[str, Any]] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.finished = False

    def put(self, frame: dict[str, Any]) -> None:
        self.frames.append(frame)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next(self, timeout: float | None = None) -> dict[str, Any]:
        """The next frame; asyncio.TimeoutError after ``timeout`` seconds without one."""
        if not self.frames:
            loop = asyncio.get_running_loop()
            self.waiter = loop.create_future()
            timer = loop.call_later(timeout, _expire, self.waiter) if timeout is not None else None
            try:
                await self.waiter
            finally:
                self.waiter = None
                if timer is not None:
                    timer.cancel()
        frame = self.frames.popleft()
        if frame.get("kind") in ("result", "end", "error", "closed"):
            self.finished = True
        return frame

    def close(self) -> None:
        if self.channel.calls.pop(self.id, None) is not None and not self.finished and not self.channel.closed:
            self.channel.send({"id": 0, "op": "cancel", "target": self.id})


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _unheard(topic: Any, data: Any) -> None:
    pass


class Channel:
    """``on_publish(topic, data)`` gets the worker's publish frames, in order, before any answer that follows
    them; it runs as the frames arrive, so it must not block (and what it raises is dropped, not fatal).

    Frames are read by a ``protocol.FrameLink`` (each handled as its bytes arrive, no read loop task)."""

    def __init__(self, on_publish: Callable[[Any, Any], None] = _unheard) -> None:
        self.on_publish = on_publish
        self.calls: dict[int, Call] = {}
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.closed = False
        self.link = FrameLink(self._frame, self._closed)
        self._ids = itertools.count(1)
        self._pending: list[bytes] = []  # frames of this loop iteration, written with one syscall

    @classmethod
    async def connect(cls, sock: socket.socket, on_publish: Callable[[Any, Any], None] = _unheard) -> Channel:
        sock.setblocking(False)
        channel = cls(on_publish)
        await asyncio.get_running_loop().create_unix_connection(lambda: channel.link, sock=sock)
        return channel

    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ChannelClosed("worker channel is closed")
        frame = encode_frame(message)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(frame)

    def _flush(self) -> None:
        data, self._pending = b"".join(self._pending), []
        if not self.closed:
            self.link.write(data)

    def open(self, op: str, **fields: Any) -> Call:
        """Sends one request; the answer frames arrive on the returned Call."""
        call = Call(self, next(self._ids))
        if self.closed:
            call.put(CLOSED)
            return call
        self.calls[call.id] = call
        try:
            self.send({"id": call.id, "op": op, **fields})
        except (TypeError, ValueError):
            self.calls.pop(call.id, None)
            raise
        return call

    def _frame(self, body: bytes) -> None:
        """One frame from the worker; what this raises (a garbled frame) ends the link: the worker counts as
        gone."""
        frame = json.loads(body)
        kind = frame.get("kind")
        if kind == "result":
            text = result_text(frame, body)
            if text is not None:
                frame["text"] = text
        elif kind == "hello":
            if not self.hello.done():
                self.hello.set_result(frame)
            return
        elif kind == "publish":
            try:
                self.on_publish(frame.get("topic"), frame.get("data"))
            except Exception:  # a subscriber's bug must not cut the worker off
                log.exception("on_publish failed for %r", frame.get("topic"))
            return
        call = self.calls.get(frame.get("id", -1))
        if call is not None:
            call.put(frame)

    def _closed(self, error: BaseException | None) -> None:
        self.closed = True
        if not self.hello.done():
            self.hello.set_exception(ChannelClosed("worker closed the channel before it was ready"))
            self.hello.exception()  # mark retrieved; the waiter may be gone
        for call in list(self.calls.values()):
            call.put(CLOSED)

    async def close(self) -> None:
        self.closed = True
        self.link.close()
