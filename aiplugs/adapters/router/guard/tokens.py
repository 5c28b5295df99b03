"""Tokens per route class (401 without the right one):

  public  ``GET /api/health``, ``/proxy.pac``, ``/welcome``  no token, no secrets
  asset   ``/v1/plugins/{id}/assets/{path}``            no token (pages load them by <script src>); only files a
                                                        manifest declares are served at all
  page    ``/v1/...``                                   ``X-AIPlugs-Token: <page>`` (WebSockets: ``?token=``, as
                                                        browsers cannot set headers on them); the admin token works too
  admin   everything else (``/api/*``, ``/metrics``)    ``Authorization: Bearer <admin>``

A repeated ``Authorization`` or ``X-AIPlugs-Token`` header (or ``?token=``) is a 400: with one valid and one
invalid copy, which one counts would depend on who reads it.
"""

from __future__ import annotations

import hmac
from typing import Literal
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import RouterContext
from ._asgi import Ambiguous, Denial, deny, guarded, one
from .routes import route_class

__all__ = ["TokenGuard", "token_problem"]

ADMIN_NEEDED = "this route needs the admin token (Authorization: Bearer <state_dir/admin.token>)"


def _tokens(ctx: RouterContext) -> tuple[str, str]:
    """(admin, page): the one place the guard reads tokens from the context."""
    return ctx.admin_token, ctx.page_token


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _query_token(scope: Scope) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])
    if len(values) > 1:
        raise Ambiguous("token query parameter")
    return values[0] if values else None


def token_problem(scope: Scope, ctx: RouterContext) -> Denial | None:
    route = route_class(scope.get("path", ""))
    if route in ("public", "asset"):
        return None
    kind: Literal["http", "websocket"] = scope["type"]
    admin, page = _tokens(ctx)
    headers = Headers(scope=scope)
    try:
        auth = one(headers, "authorization") or ""
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if _same(bearer, admin):
            return None
        if route == "admin":
            return 401, ADMIN_NEEDED
        token = one(headers, "x-aiplugs-token")
        if token is None and kind == "websocket":
            token = _query_token(scope)
    except Ambiguous as e:
        return 400, str(e)
    if _same(token, page):
        return None
    return 401, "this route needs the page token (X-AIPlugs-Token header" + \
        (", or ?token= for WebSockets)" if kind == "websocket" else ")")


class TokenGuard:
    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = token_problem(scope, self.ctx) if guarded(scope) else None
        if problem is not None:
            await deny(scope, receive, send, *problem)
            return
        await self.app(scope, receive, send)
