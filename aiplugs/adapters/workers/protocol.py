"""What the worker and the manager agree on: the frame codec and the exit codes that carry meaning.

Standard library only: the worker (harness.py) imports this without the ``aiplugs`` package. The frames
themselves are listed in harness.py's docstring.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, NamedTuple

__all__ = ["EXIT_HOOK_FAILED", "EXIT_HOOK_TIMEOUT", "HEADER", "MAX_FRAME", "Encoded", "encode_frame", "read_body",
           "read_frame", "result_text"]

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024
# A worker whose init hook raised exits with this code; its last stderr line is "init hook failed: <Type>: <msg>".
EXIT_HOOK_FAILED = 5
# A hook ran past --hook-timeout; the last stderr line is "<hook> hook timed out after <N>s" (after the innermost
# lines of what the hook was running, so the log shows where it was stuck).
EXIT_HOOK_TIMEOUT = 6


# One encoder for every frame: json.dumps with options builds a new JSONEncoder per call. These are the options
# Starlette's JSONResponse renders with, so a result's JSON text is also the HTTP answer's body (result_text).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
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
        head = _encode({k: v for k, v in message.items() if k != "payload"}).encode("utf-8")
        body = b"".join((head[:-1], b',"payload":' if len(head) > 2 else b'"payload":', payload.text, b"}"))
    else:
        body = _encode(message).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the channel's {MAX_FRAME}-byte frame limit")
    return HEADER.pack(len(body)) + body


async def read_body(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's JSON text, or None at EOF."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at EOF."""
    body = await read_body(reader)
    return None if body is None else json.loads(body)


def result_text(frame: dict[str, Any], body: bytes) -> bytes | None:
    """The JSON text of a result frame's ``value`` within the frame's text ``body``, when encode_frame laid it
    out (id, kind, value: what the harness sends); None otherwise."""
    prefix = _RESULT_PREFIX % frame["id"] if type(frame.get("id")) is int else b"-"
    if body.startswith(prefix) and body.endswith(b"}"):
        return body[len(prefix):-1]
    return None
