"""The router's front door (a plain ASGI middleware): Host check, tokens, CORS and the body size limit.

Route classes:
  public  ``GET /api/health``, ``/proxy.pac``, ``/welcome``  no token, no secrets
  asset   ``/v1/plugins/{id}/assets/{path}``            no token (pages load them by <script src>); only files a
                                                        manifest declares are served at all
  page    ``/v1/...``                                   ``X-AIPlugs-Token: <page>`` (WebSockets: ``?token=``);
                                                        the admin token works too
  admin   everything else (``/api/*``, ``/metrics``)    ``Authorization: Bearer <admin>``

Every request's ``Host`` must be a loopback name (DNS-rebinding defence: 403 otherwise) with the port we listen on
(421 otherwise). Pages normally reach us same-origin through the proxy's ``/__aiplugs__/`` path, which rewrites
Host to the loopback address, so no CORS is involved; for direct loopback calls from pages, CORS answers only on
page and asset routes and only for origins some enabled plugin's content-script patterns can match (never ``*``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from ...declaration.rules import MatchPattern
from .context import RouterContext

__all__ = ["Guard", "check_host", "origin_allowed", "route_class"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PAGE_HEADERS = ("content-type", "x-aiplugs-token", "accept", "last-event-id")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def route_class(path: str) -> str:
    if path in ("/api/health", "/proxy.pac", "/welcome"):
        return "public"
    if path.startswith("/v1/"):
        parts = path.split("/")
        if len(parts) >= 6 and parts[1:3] == ["v1", "plugins"] and parts[4] == "assets":
            return "asset"
        return "page"
    return "admin"


def _is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_host(host: str | None, port: int | None) -> tuple[int, str] | None:
    """None when ``host`` (a Host header) names a loopback address on ``port``; else (status, reason)."""
    if not host:
        return 403, "missing Host header"
    try:
        parts = urlsplit("//" + host)
        name, given = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return 403, f"malformed Host header {host!r}"
    if not _is_loopback(name):
        return 403, f"Host {host!r} is not a loopback name (DNS-rebinding defence)"
    if port is not None and given is not None and given != port:
        return 421, f"Host {host!r} names another port; this router listens on {port}"
    if port is not None and given is None and port != 80:
        return 421, f"Host {host!r} has no port; this router listens on {port}"
    return None


def origin_allowed(origin: str, ctx: RouterContext) -> bool:
    """Whether a page at ``origin`` may call page routes directly: some enabled plugin's patterns match it."""
    try:
        parts = urlsplit(origin)
        scheme, name, port = parts.scheme, (parts.hostname or ""), parts.port
    except ValueError:
        return False
    if not scheme or not name:
        return False
    for script in ctx.desired.proxy.scripts:
        for text in script.matches:
            pattern = _pattern(text)
            if (scheme in pattern.schemes and pattern.matches_host(name)
                    and (pattern.port is None or pattern.port == (port or {"http": 80, "https": 443}.get(scheme)))):
                return True
    return False


_PATTERNS: dict[str, MatchPattern] = {}


def _pattern(text: str) -> MatchPattern:
    pattern = _PATTERNS.get(text)
    if pattern is None:
        pattern = _PATTERNS[text] = MatchPattern(text)
    return pattern


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    def __init__(self, app: Callable[..., Awaitable[None]], ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        server = scope.get("server") or (None, None)
        problem = check_host(headers.get("host"), server[1])
        if problem is not None:
            await self._deny(scope, receive, send, *problem)
            return
        path = scope.get("path", "")
        route = route_class(path)
        origin = headers.get("origin")
        cors_ok = origin is not None and route in ("page", "asset") and origin_allowed(origin, self.ctx)
        if kind == "http" and scope["method"] == "OPTIONS" and origin is not None \
                and "access-control-request-method" in headers:
            await self._preflight(send, headers, cors_ok)
            return
        if kind == "websocket" and origin is not None and not cors_ok and not self._loopback_origin(origin):
            await self._deny(scope, receive, send, 403, f"origin {origin!r} may not open this WebSocket")
            return
        denied = self._token_problem(route, kind, headers, scope)
        if denied is not None:
            await self._deny(scope, receive, send, *denied)
            return
        if kind == "http" and scope["method"] in BODY_METHODS:
            limit = self.ctx.desired.max_body_bytes
            length = headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await self._deny(scope, receive, send, 413, f"request body exceeds the {limit}-byte limit")
                return
            body, more = await _read_limited(receive, limit)
            if more:
                await self._deny(scope, receive, send, 413, f"request body exceeds the {limit}-byte limit")
                return
            receive = _replay(body, receive)
        if cors_ok and kind == "http":
            send = _with_cors(send, origin)  # type: ignore[arg-type]
        await self.app(scope, receive, send)

    def _token_problem(self, route: str, kind: str, headers: dict[str, str], scope: Scope) -> tuple[int, str] | None:
        if route in ("public", "asset"):
            return None
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if _same(bearer, self.ctx.admin_token):
            return None
        if route == "admin":
            return 401, "this route needs the admin token (Authorization: Bearer <state_dir/admin.token>)"
        token = headers.get("x-aiplugs-token")
        if token is None and kind == "websocket":
            token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
        if _same(token, self.ctx.page_token):
            return None
        return 401, "this route needs the page token (X-AIPlugs-Token header" + \
            (", or ?token= for WebSockets)" if kind == "websocket" else ")")

    def _loopback_origin(self, origin: str) -> bool:
        try:
            return _is_loopback((urlsplit(origin).hostname or "").rstrip("."))
        except ValueError:
            return False

    async def _preflight(self, send: Send, headers: dict[str, str], allowed: bool) -> None:
        if not allowed:
            await _respond(send, 403, {"error": {"type": "cors", "message": "origin not allowed"}})
            return
        requested = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",")
                     if h.strip()]
        out = [(b"access-control-allow-origin", headers["origin"].encode("latin-1")), (b"vary", b"Origin"),
               (b"access-control-allow-methods", b"GET, POST"), (b"access-control-max-age", b"600"),
               (b"content-length", b"0")]
        allowed_headers = [h for h in requested if h in PAGE_HEADERS]
        if allowed_headers:
            out.append((b"access-control-allow-headers", ", ".join(allowed_headers).encode()))
        if headers.get("access-control-request-private-network") == "true":
            out.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": out})
        await send({"type": "http.response.body", "body": b""})

    async def _deny(self, scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            # closing before accept makes the server answer the handshake with HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await _respond(send, status, {"error": {"type": "http", "status": status, "message": reason}}, extra)


async def _respond(send: Send, status: int, data: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(data).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _read_limited(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, or (partial, True) as soon as it grows past ``limit``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: http.disconnect, as the server reports it

    return replay


def _with_cors(send: Send, origin: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []),
                                  (b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        await send(message)

    return wrapped
