"""What every guard middleware shares: reading a header it decides on, and refusing a request or a WebSocket."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

__all__ = ["Ambiguous", "Denial", "deny", "guarded", "one", "respond"]

Denial = tuple[int, str]  # (HTTP status, reason shown to the caller)


class Ambiguous(ValueError):
    """A header (or query parameter) a decision rests on came more than once.

    Servers and proxies disagree on which copy wins, so deciding on either one lets a request say one thing to a
    proxy and another to us; the request is refused instead."""

    def __init__(self, name: str) -> None:
        super().__init__(f"repeated {name}: the request is ambiguous")
        self.name = name


def one(headers: Headers, name: str) -> str | None:
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
