"""Calling the router's own JSON API from inside it, for the pages built on endpoints other parts of aiplugs own
(metrics history, suggestions): the dashboard then depends on their HTTP contract only — the same answers the CLI
and the notebook get — and a page can tell an endpoint this daemon does not have from one that failed.

The call goes to the app's router (behind the guard: the page's own request already passed it) as a plain ASGI
request; nothing touches the network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.routing import Match

__all__ = ["Answer", "available", "call", "listed"]


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any  # the JSON body; None when it is not JSON

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> str:
        """The error message of an ``{"error": {"message": ...}}`` answer, else the status."""
        if isinstance(self.data, dict) and isinstance(self.data.get("error"), dict):
            return str(self.data["error"].get("message") or self.data["error"])
        if isinstance(self.data, dict) and isinstance(self.data.get("error"), str):
            return self.data["error"]
        return f"HTTP {self.status}"


def _scope(request: Request, method: str, path: str, query: dict[str, Any] | None, body: bytes) -> dict[str, Any]:
    headers = [(b"host", request.headers.get("host", "127.0.0.1").encode("latin-1")),
               (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": urlencode(query or {}, doseq=True).encode(), "headers": headers,
            "server": request.scope.get("server"), "client": request.scope.get("client"), "app": request.app,
            "state": {}}


def available(request: Request, method: str, path: str) -> bool:
    """Whether the app has a route for ``method path`` (a missing feature, not a missing object)."""
    scope = _scope(request, method, path, None, b"")
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


async def call(request: Request, method: str, path: str, query: dict[str, Any] | None = None,
               body: Any = None) -> Answer:
    """``method path`` answered by the app's routes; ``body`` is sent as JSON."""
    raw = json.dumps(body).encode() if body is not None else b""
    scope = _scope(request, method, path, query, raw)
    sent = False
    status, chunks = 500, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await request.app.router(scope, receive, send)
    try:
        data = json.loads(b"".join(chunks) or b"null")
    except ValueError:
        data = None
    return Answer(status, data)


def listed(data: Any, *keys: str) -> list[dict[str, Any]]:
    """The list of objects an endpoint answered: the body itself, or the list under the first of ``keys`` it has."""
    if isinstance(data, dict):
        data = next((data[k] for k in keys if isinstance(data.get(k), list)), [])
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
