"""Server-sent events: one encoder for everything the router streams, one parser for everything that reads them.

The format (https://html.spec.whatwg.org/multipage/server-sent-events.html): ``field: value`` lines, an event
ends at an empty line; ``data`` lines join with newlines; lines starting with ``:`` are comments (keep-alives).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

__all__ = ["SseEvent", "encode", "parse"]


@dataclass(frozen=True)
class SseEvent:
    data: str
    event: str = ""  # "" = the default "message"
    id: str | None = None

    def json(self) -> Any:
        """The data as JSON, or the text itself when it is not JSON."""
        try:
            return json.loads(self.data)
        except json.JSONDecodeError:
            return self.data


def encode(data: Any, *, event: str | None = None, id: int | str | None = None) -> bytes:
    """One event; ``data`` is sent as compact JSON (strings too, so a client never has to guess)."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = ""
    if id is not None:
        head += f"id: {id}\n"
    if event:
        head += f"event: {event}\n"
    return f"{head}data: {text}\n\n".encode()


def parse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Events from decoded lines (with or without their line endings); comments and empty events are skipped."""
    data: list[str] = []
    event, ident = "", None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent("\n".join(data), event, ident)
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            ident = value
    if data:
        yield SseEvent("\n".join(data), event, ident)
