"""What a worker writes to its manager, from its loop and from the threads that run sync backend code.

The loop queues frames and writes them in batches, one write per loop pass (``queue``). A thread that ran sync
code writes a plain answer to the channel's socket itself (``hand_over`` -> ``_write_direct``) when nothing
written earlier is still waiting: the answer then needs no wake-up of the loop, no hand-back and no loop pass,
which was about a third of a worker's CPU per call at one call at a time (strace and /proc under
benchmarks/bench_router.py). Otherwise, and for every outcome the loop must deal with (an exception, an
awaitable, a stream), the thread hands it over and the loop takes it in its next pass (``_settle``), in order: a
frame a thread published reaches the manager before the answer that follows it.

One lock is held for every write (the loop's and the threads') and for handing over; the loop holds it from
taking handed-over items until they are written. What the socket does not take of a thread's write at once is
written by the loop before anything else. Standard library only (see harness.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable

from .protocol import FrameLink, encode_frame

__all__ = ["Outbox", "encoded"]

Outcome = tuple[int, str, tuple[bool, Any]]  # (call id, op, (returned, its result or exception)) of sync code


def encoded(message: dict[str, Any]) -> bytes:
    """The frame of ``message``; an error frame in its place when the backend's value is not JSON."""
    try:
        return encode_frame(message)
    except (TypeError, ValueError) as e:
        return encode_frame({"id": message["id"], "kind": "error", "type": "TypeError",
                             "message": f"result is not JSON serializable: {e}"})


class Outbox:
    """``link``'s writes. ``sock``: the socket under ``link``, which threads write to (None: the loop writes
    everything). ``take(outcome)`` runs in the loop, under the lock, for each outcome handed over; ``claim(call_id)``
    says whether an answer is still wanted (False: the manager gave up on that call), under the lock too."""

    def __init__(self, loop: asyncio.AbstractEventLoop, link: FrameLink, sock: socket.socket | None,
                 take: Callable[[Outcome], None], claim: Callable[[int], bool]) -> None:
        self.loop, self.link, self._sock = loop, link, sock
        self._take, self._claim = take, claim
        self.lock = threading.Lock()
        self._handed: list[Outcome | bytes] = []  # handed over by threads, for the loop's next pass
        self._settling = False  # a _settle is scheduled
        self._pending: list[bytes] = []  # frames of this loop iteration, written with one syscall
        self._rest = b""  # the unsent end of a frame a thread began to write itself; written before anything else
        self._inline = False  # _settle writes what it queued itself, without waiting for the next loop pass

    def send(self, message: dict[str, Any]) -> None:
        """From the loop: ``message``, written in this loop pass's batch."""
        self.queue(encoded(message))

    def post(self, frame: bytes) -> None:
        """An encoded frame from any thread: ctx.publish runs in the loop (async code, in order with the call's
        answer) or in the threads that run sync code (in order with their answers: ``hand_over``)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.queue(frame)
        else:
            self.hand_over(frame)

    def queue(self, frame: bytes) -> None:
        if not self._pending and not self._inline:
            self.loop.call_soon(self._flush)
        self._pending.append(frame)

    def _flush(self) -> None:
        with self.lock:
            self._write_pending()

    def _write_pending(self) -> None:
        """Writes what the loop queued (after the rest of a frame a thread began); the caller holds the lock."""
        if self._pending or self._rest:  # _settle may have written them already
            data, self._pending, self._rest = b"".join((self._rest, *self._pending)), [], b""
            self.link.write(data)

    def hand_over(self, item: Outcome | bytes, answers: int | None = None) -> None:
        """From a thread: an outcome for the loop, or an encoded frame (the answer to call ``answers``, or a frame
        the code published), written from here when nothing waits to be written before it."""
        with self.lock:
            if answers is not None and not self._claim(answers):
                return  # the manager gave up on this call
            if type(item) is bytes and self._write_direct(item):
                return
            self._handed.append(item)
            if self._settling:
                return
            self._settling = True
        self.loop.call_soon_threadsafe(self._settle)

    def _write_direct(self, frame: bytes) -> bool:
        """Writes ``frame`` to the socket when nothing written earlier waits (in the transport's buffer, handed
        over, the rest of a frame); the caller holds the lock. False: it was not written."""
        sock, transport = self._sock, self.link.transport
        if sock is None or transport is None or transport.is_closing() or self._handed or self._rest \
                or transport.get_write_buffer_size():
            return False
        try:
            sent = sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return True  # the manager's end is gone; the link sees it and ends serving
        if sent < len(frame):
            self._rest = frame[sent:]
            self.loop.call_soon_threadsafe(self._flush)
        return True

    def _settle(self) -> None:
        """Takes what threads handed over and writes it now: this is already a loop pass of its own, so waiting
        for the next one (as ``queue`` does) would only add latency."""
        with self.lock:
            handed, self._handed, self._settling = self._handed, [], False
            self._inline = True
            try:
                for item in handed:  # in the order they came
                    if type(item) is bytes:
                        self.queue(item)
                    else:
                        self._take(item)  # type: ignore[arg-type]
            finally:
                self._inline = False
                self._write_pending()
