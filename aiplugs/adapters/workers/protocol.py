"""What the worker and the manager agree on: the frame codec and the exit codes that carry meaning.

Standard library only: the worker (harness.py) imports this without the ``aiplugs`` package. The frames
themselves are listed in harness.py's docstring.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

__all__ = ["EXIT_HOOK_FAILED", "EXIT_HOOK_TIMEOUT", "HEADER", "MAX_FRAME", "encode_frame", "read_frame"]

HEADER = struct.Struct("!I")
MAX_FRAME = 256 * 1024 * 1024
# A worker whose init hook raised exits with this code; its last stderr line is "init hook failed: <Type>: <msg>".
EXIT_HOOK_FAILED = 5
# A hook ran past --hook-timeout; the last stderr line is "<hook> hook timed out after <N>s" (after the innermost
# lines of what the hook was running, so the log shows where it was stuck).
EXIT_HOOK_TIMEOUT = 6


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ValueError(f"message of {len(body)} bytes exceeds the channel's {MAX_FRAME}-byte frame limit")
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None at EOF."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
        return json.loads(await reader.readexactly(size))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
