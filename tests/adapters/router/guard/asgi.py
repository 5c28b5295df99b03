"""A plain ASGI harness for the guard middlewares: scopes, a recording app and a captured answer; no server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

ADMIN, PAGE, PORT = "admin-secret", "page-secret", 5000


def context(max_body_bytes: int = 10, matches: tuple[str, ...] = ("https://site.example/*",)) -> Any:
    """Only what the guard reads of a RouterContext."""
    return SimpleNamespace(admin_token=ADMIN, page_token=PAGE, max_body_bytes=max_body_bytes,
                           match_patterns=lambda: matches)


def scope(path: str = "/v1/plugins/p/run", method: str = "POST", headers: list[tuple[str, str]] | None = None,
          kind: str = "http", query: str = "") -> dict[str, Any]:
    given = [("host", f"127.0.0.1:{PORT}")] if headers is None else headers
    out = {"type": kind, "path": path, "query_string": query.encode(), "server": ("127.0.0.1", PORT),
           "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in given]}
    if kind == "http":
        out["method"] = method
    return out


@dataclass
class Answer:
    status: int | None = None  # HTTP status; None for a WebSocket
    headers: dict[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    close_code: int | None = None  # websocket.close before accept
    accepted: bool = False
    app_saw: bytes | None = None  # the body the inner app read, None when it was never called

    def json(self) -> Any:
        return json.loads(self.body)


async def run(middleware: type, s: dict[str, Any], chunks: tuple[bytes, ...] = (b"",), **options: Any) -> Answer:
    """Runs ``middleware`` around an app that reads the whole body and answers 200 (or accepts the WebSocket)."""
    answer = Answer()
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    if s["type"] == "websocket":
        messages = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            for k, v in message.get("headers", []):
                answer.headers.setdefault(k.decode("latin-1"), []).append(v.decode("latin-1"))
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")
        elif message["type"] == "websocket.close":
            answer.close_code = message["code"]
        elif message["type"] == "websocket.accept":
            answer.accepted = True

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            answer.app_saw = b""
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer.app_saw = body
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    await middleware(app, **options)(s, receive, send)
    return answer
