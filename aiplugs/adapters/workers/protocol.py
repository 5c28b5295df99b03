"""What the worker and the manager agree on: the frame codec and the exit codes that carry meaning.

Standard library only: the worker (harness.py) imports this without the ``aiplugs`` package. The frames
themselves are listed in harness.py's docstring.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, Callable, NamedTuple

__all__ = ["EXIT_HOOK_FAILED", "EXIT_HOOK_TIMEOUT", "HEADER", "MAX_FRAME", "Encoded", "FrameLink", "encode_frame",
           "encode_json", "result_text"]

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024
# A worker whose init hook raised exits with this code; its last stderr line is "init hook failed: <Type>: <msg>".
EXIT_HOOK_FAILED = 5
# A hook ran past --hook-timeout; the last stderr line is "<hook> hook timed out after <N>s" (after the innermost
# lines of what the hook was running, so the log shows where it was stuck).
EXIT_HOOK_TIMEOUT = 6


# One encoder for every frame: json.dumps with options builds a new JSONEncoder per call. These are the options
# Starlette's JSONResponse renders with, so a result's JSON text is also the HTTP answer's body (result_text).
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
try:  # the C encoder it builds per call (with a fresh dict to detect cycles), built once without that dict
    from _json import make_encoder as _make_encoder
except ImportError:  # pragma: no cover - CPython always has it
    _make_encoder = None
_once = _make_encoder(None, _encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False,
                      False) if _make_encoder is not None else None


def encode_json(value: Any) -> str:
    """``value`` as Starlette's JSONResponse renders it (``_encoder.encode``: the same text and errors), for about
    half the CPU of a small frame (a worker encodes one per answer). Without the cycle check's dict it is also
    safe to share between threads (ctx.publish encodes in the backend's threads); a cycle then ends in
    RecursionError, and the encoder with the check says what it always said ("Circular reference detected")."""
    if _once is None or type(value) is not dict:
        return _encoder.encode(value)
    try:
        return "".join(_once(value, 0))
    except RecursionError:
        return _encoder.encode(value)


_RESULT_PREFIX = b'{"id":%d,"kind":"result","value":'


class Encoded(NamedTuple):
    """A frame's ``payload`` whose JSON text is already at hand (a request body the router has read and
    checked): the frame carries ``text`` as it is instead of encoding ``value`` again. ``text`` must be UTF-8
    JSON that decodes to ``value``."""

    value: Any
    text: bytes


def encode_frame(message: dict[str, Any]) -> bytes:
    payload = message.get("payload")
    if type(payload) is Encoded:
        head = encode_json({k: v for k, v in message.items() if k != "payload"}).encode("utf-8")
        body = b"".join((head[:-1], b',"payload":' if len(head) > 2 else b'"payload":', payload.text, b"}"))
    else:
        body = encode_json(message).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the channel's {MAX_FRAME}-byte frame limit")
    return HEADER.pack(len(body)) + body


def result_text(frame: dict[str, Any], body: bytes) -> bytes | None:
    """The JSON text of a result frame's ``value`` within the frame's text ``body``, when encode_frame laid it
    out (id, kind, value: what the harness sends); None otherwise."""
    prefix = _RESULT_PREFIX % frame["id"] if type(frame.get("id")) is int else b"-"
    if body.startswith(prefix) and body.endswith(b"}"):
        return body[len(prefix):-1]
    return None


class FrameLink(asyncio.BufferedProtocol):
    """Both ends of the channel as an asyncio protocol: each whole frame's JSON text goes to ``on_frame`` from
    ``buffer_updated``, in order, as soon as its bytes are in; ``on_close(error)`` once when the link ends (EOF,
    a lost connection, a frame over MAX_FRAME, or what ``on_frame`` raised: the link is closed then).

    Rather than a StreamReader read loop: no task to wake per frame, so a frame is handled one loop pass
    earlier and for less CPU (the read loop was ~7 % of the router's CPU per call in bench_router.py). And a
    buffered protocol: the socket is read into one reused buffer (``recv_into``) instead of a fresh
    ``recv(256 KiB)`` per read, which glibc serves with mmap, then mremap and munmap: three syscalls and page
    faults per read, for a frame of a few hundred bytes (strace of a worker under bench_router.py).
    ``paused``: read nothing until ``resume()`` (the worker starts reading once init ran and hello is out)."""

    READ_SIZE = 65536  # free room offered to each read; the buffer grows to hold a bigger frame whole

    def __init__(self, on_frame: Callable[[bytes], None], on_close: Callable[[BaseException | None], None], *,
                 paused: bool = False) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray(self.READ_SIZE)
        self._head = 0  # the first byte not yet handed on (a frame's header)
        self._tail = 0  # the end of what was read
        self._needed = 0  # bytes from _head the next frame needs to be whole (0: none begun)
        self._paused = paused
        self._ended = False
        self._writable: asyncio.Future[None] | None = None  # while the transport's write buffer is full

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._paused:
            transport.pause_reading()  # type: ignore[attr-defined]

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        """Room after what was read. Made here, never in ``buffer_updated``: the buffer cannot move or grow
        while the transport holds the view it read into."""
        start, end = self._head, self._tail
        if start == end:
            self._head = self._tail = start = end = 0
            if len(self._buf) > 4 * self.READ_SIZE:  # a big frame went through: give its room back
                self._buf = bytearray(self.READ_SIZE)
        room = max(self._needed, self.READ_SIZE)
        if len(self._buf) - start < room:  # keep the unread part, at the front, in a buffer big enough
            kept = self._buf[start:end]
            self._buf = kept + bytearray(room - len(kept))
            self._head, self._tail = 0, len(kept)
        elif len(self._buf) - end < self.READ_SIZE // 4 and start:
            self._buf[:end - start] = self._buf[start:end]
            self._head, self._tail = 0, end - start
        return memoryview(self._buf)[self._tail:]

    def buffer_updated(self, nbytes: int) -> None:
        self._tail += nbytes
        if self._ended or self._tail - self._head < self._needed:
            return  # the rest of a frame begun earlier
        try:
            with memoryview(self._buf) as view:
                pos, end = self._head, self._tail
                while end - pos >= 4:
                    (size,) = HEADER.unpack_from(view, pos)
                    if size > MAX_FRAME:
                        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
                    stop = pos + 4 + size
                    if stop > end:
                        break
                    frame = bytes(view[pos + 4:stop])
                    pos = self._head = stop
                    self.on_frame(frame)
                    if self._ended:
                        return
                left = end - pos
                self._needed = 4 + HEADER.unpack_from(view, pos)[0] if left >= 4 else 4 if left else 0
        except BaseException as e:
            self._end(e)

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    async def drain(self) -> None:
        """Waits while the transport's write buffer is over its high-water mark (as StreamWriter.drain)."""
        if self._ended:
            raise ConnectionResetError("the channel is closed")
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def close(self) -> None:
        """Ends the link now: ``on_close(None)`` has run when this returns."""
        if self.transport is not None:
            self.transport.close()
        self._end(None)

    def _end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        if self.transport is not None:
            self.transport.close()
        self.resume_writing()
        self.on_close(error)
