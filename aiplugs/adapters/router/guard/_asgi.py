"""What every guard rule shares: the headers it decides on, read once, and refusing a request or a WebSocket."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

__all__ = ["Ambiguous", "DECIDING", "Denial", "Picked", "deny", "guarded", "one", "respond"]

Denial = tuple[int, str]  # (HTTP status, reason shown to the caller)
# Every header some rule decides on. ASGI servers give header names in lower case (Starlette's Headers relies
# on that too).
DECIDING = frozenset({b"host", b"origin", b"authorization", b"x-aiplugs-token", b"content-length", b"cookie",
                      b"accept", b"access-control-request-method", b"access-control-request-headers",
                      b"access-control-request-private-network"})


class Ambiguous(ValueError):
    """A header (or query parameter) a decision rests on came more than once.

    Servers and proxies disagree on which copy wins, so deciding on either one lets a request say one thing to a
    proxy and another to us; the request is refused instead."""

    def __init__(self, name: str) -> None:
        super().__init__(f"repeated {name}: the request is ambiguous")
        self.name = name


class Picked:
    """The deciding headers of a request, picked out in one pass (Starlette's ``Headers.getlist`` walks every
    header on each call, and the rules ask for several per request). Reads like ``Headers`` for those names."""

    __slots__ = ("_found",)

    def __init__(self, scope: Scope) -> None:
        found: dict[bytes, list[bytes]] = {}
        for key, value in scope["headers"]:
            if key in DECIDING:
                found.setdefault(key, []).append(value)
        self._found = found

    def _values(self, name: str) -> list[bytes]:
        key = name.encode("latin-1")
        if key not in DECIDING:  # a rule reading a header nobody picked would silently see none
            raise KeyError(f"{name!r} is not among the deciding headers (DECIDING)")
        return self._found.get(key, [])

    def getlist(self, name: str) -> list[str]:
        return [v.decode("latin-1") for v in self._values(name)]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._values(name)
        return values[0].decode("latin-1") if values else default

    def __contains__(self, name: str) -> bool:
        return bool(self._values(name))


def one(headers: Headers | Picked, name: str) -> str | None:
    """The single value of ``name``, None when absent; raises ``Ambiguous`` when repeated."""
    values = headers.getlist(name)
    if len(values) > 1:
        raise Ambiguous(f"{name} header")
    return values[0] if values else None


def guarded(scope: Scope) -> bool:
    """Whether a middleware applies: HTTP requests and WebSocket handshakes, never lifespan."""
    return scope["type"] in ("http", "websocket")


async def deny(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        # closing before accept makes the server answer the handshake with HTTP 403, whatever ``status`` says
        await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
        return
    extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    await respond(send, status, {"error": {"type": "http", "status": status, "message": reason}}, extra)


async def respond(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
