"""CORS for direct loopback calls from pages, and the Origin check of WebSocket handshakes.

Pages normally reach the router same-origin through the proxy's ``/__aiplugs__/`` path, so no CORS is involved.
For direct calls, CORS answers only on page and asset routes and only for origins some enabled plugin's
content-script patterns can match (never ``*``); preflights from other origins, or for other routes, get 403.
A WebSocket handshake carrying an Origin must come from such an origin or from a loopback one (browsers do not
preflight WebSockets, so this is the only place a foreign page is stopped before the token check).

Starlette's ``CORSMiddleware`` does not fit: its allowed origins are fixed when the app is built, while ours follow
the live desired state (a re-apply changes the patterns) and depend on the route class; it answers refused
preflights with 400, knows nothing of Private Network Access, and reads the first of repeated ``Origin`` headers.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ....declaration.rules import MatchPattern
from ..context import RouterContext
from ._asgi import Ambiguous, Picked, deny, guarded, one, respond
from .host import is_loopback
from .routes import route_class

__all__ = ["CorsGuard", "cors_step", "origin_allowed", "origin_matches"]

PAGE_HEADERS = ("content-type", "x-aiplugs-token", "accept", "last-event-id")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _patterns(ctx: RouterContext) -> Iterable[str]:
    """Every routed plugin's content-script match pattern: the one place the guard reads them from the context."""
    return ctx.match_patterns()


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> MatchPattern:
    return MatchPattern(text)


def origin_allowed(origin: str, ctx: RouterContext) -> bool:
    """Whether a page at ``origin`` may call page routes directly: some enabled plugin's patterns match it."""
    return origin_matches(origin, _patterns(ctx))


def origin_matches(origin: str, patterns: Iterable[str]) -> bool:
    """Whether some of ``patterns`` (content-script match patterns) can match a page at ``origin``: scheme, host
    and port, never the path (an Origin has none). One plugin's patterns: may this page use that plugin?"""
    try:
        parts = urlsplit(origin)
        scheme, name, port = parts.scheme, (parts.hostname or ""), parts.port
    except ValueError:
        return False
    if not scheme or not name:
        return False
    port = port or DEFAULT_PORTS.get(scheme)
    for text in patterns:
        pattern = _pattern(text)
        if (scheme in pattern.schemes and pattern.matches_host(name)
                and (pattern.port is None or pattern.port == port)):
            return True
    return False


def _loopback_origin(origin: str) -> bool:
    try:
        return is_loopback((urlsplit(origin).hostname or "").rstrip("."))
    except ValueError:
        return False


async def cors_step(scope: Scope, headers: Picked, ctx: RouterContext, receive: Receive, send: Send) -> Send | None:
    """The CORS rule for an HTTP request or WebSocket handshake: None when it answered (a refusal, a preflight),
    else the ``send`` to go on with (adding the CORS headers for an allowed origin)."""
    try:
        origin = one(headers, "origin")
    except Ambiguous as e:
        await deny(scope, receive, send, 400, str(e))
        return None
    if origin is None:  # no page asked: nothing to answer or add
        return send
    allowed = route_class(scope.get("path", "")) in ("page", "asset") and origin_allowed(origin, ctx)
    if scope["type"] == "websocket":
        if not allowed and not _loopback_origin(origin):
            await deny(scope, receive, send, 403, f"origin {origin!r} may not open this WebSocket")
            return None
    elif scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
        await _preflight(send, headers, origin, allowed)  # before the token check: preflights carry none
        return None
    elif allowed:
        return _with_cors(send, origin)
    return send


class CorsGuard:
    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not guarded(scope):
            await self.app(scope, receive, send)
            return
        go_on = await cors_step(scope, Picked(scope), self.ctx, receive, send)
        if go_on is not None:
            await self.app(scope, receive, go_on)


async def _preflight(send: Send, headers: Picked, origin: str, allowed: bool) -> None:
    if not allowed:
        await respond(send, 403, {"error": {"type": "cors", "message": "origin not allowed"}})
        return
    # a list-valued header may arrive as several lines; joined with commas they mean the same (RFC 9110 §5.3)
    requested = [h.strip().lower() for line in headers.getlist("access-control-request-headers")
                 for h in line.split(",") if h.strip()]
    out = [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin"),
           (b"access-control-allow-methods", b"GET, POST"), (b"access-control-max-age", b"600"),
           (b"content-length", b"0")]
    allowed_headers = [h for h in requested if h in PAGE_HEADERS]
    if allowed_headers:
        out.append((b"access-control-allow-headers", ", ".join(allowed_headers).encode()))
    if headers.getlist("access-control-request-private-network") == ["true"]:
        out.append((b"access-control-allow-private-network", b"true"))
    await send({"type": "http.response.start", "status": 204, "headers": out})
    await send({"type": "http.response.body", "body": b""})


def _with_cors(send: Send, origin: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []),
                                  (b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
        await send(message)

    return wrapped
