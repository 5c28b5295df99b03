"""The router's front door: four rules, one module each, applied in this order by one pure-ASGI middleware
(``Guard``, gate.py; ``guard_middleware`` gives it). Each rule is also a middleware of its own (the classes below).

1. ``HostGuard``   the Host must be a loopback name on our port (DNS-rebinding defence)      403 / 421
2. ``CorsGuard``   preflights and CORS headers for plugin origins; WebSocket Origin check    204 / 403
3. ``TokenGuard``  the token each route class needs                                         401
4. ``BodyLimit``   the request body size limit                                              413

Host comes first so nothing else runs for a rebinding page. CORS sits outside the token check because preflights
carry no token, and so that a refusal (401, 413) sent to an allowed origin is readable by the page instead of
surfacing as an opaque CORS error. The body is read only once the caller has proved who it is.

Every header a decision rests on must come once: a repeated Host, Origin, Authorization, X-AIPlugs-Token or
Content-Length is refused with 400, never decided on an arbitrary copy.
"""

from __future__ import annotations

from starlette.middleware import Middleware

from ..context import RouterContext
from .body import BodyLimit
from .cors import CorsGuard, origin_allowed, origin_matches
from .gate import Guard
from .host import HostGuard, check_host
from .routes import RouteClass, route_class
from .tokens import TokenGuard

__all__ = sorted([
    "BodyLimit",
    "CorsGuard",
    "Guard",
    "HostGuard",
    "RouteClass",
    "TokenGuard",
    "check_host",
    "guard_middleware",
    "origin_allowed",
    "origin_matches",
    "route_class",
])


def guard_middleware(ctx: RouterContext) -> list[Middleware]:
    """The front door for ``Starlette(middleware=...)``: one middleware applying every rule."""
    return [Middleware(Guard, ctx=ctx)]
