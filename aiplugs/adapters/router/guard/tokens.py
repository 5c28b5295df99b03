"""Tokens per route class (401 without the right one):

  public  ``GET /api/health``, ``/proxy.pac``, ``/welcome``  no token, no secrets
          ``/login``, ``/ui/static/*``                   (the dashboard's sign-in and its CSS/JS)
  asset   ``/v1/plugins/{id}/assets/{path}``            no token (pages load them by <script src>); only files a
                                                        manifest declares are served at all
  page    ``/v1/...``                                   ``X-AIPlugs-Token: <page>`` (WebSockets: ``?token=``, as
                                                        browsers cannot set headers on them); the admin token works too
  admin   everything else (``/api/*``, ``/metrics``,    ``Authorization: Bearer <admin>``, or the dashboard's
          the dashboard ``/``, ``/ui/*``)               session cookie (session.py; a state change signed in by
                                                        it must carry the dashboard's own Origin)

A state change (POST...) on an admin or public route that carries a foreign ``Origin`` is a 403, whatever its
credentials. A dashboard page asked for without a session gets an HTML 401 that says how to sign in, and no data.

A repeated ``Authorization`` or ``X-AIPlugs-Token`` header (or ``?token=``) is a 400: with one valid and one
invalid copy, which one counts would depend on who reads it.
"""

from __future__ import annotations

import hmac
from typing import Literal
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import RouterContext
from ._asgi import Ambiguous, Denial, Picked, deny, guarded, one
from .routes import route_class
from .session import SAFE_METHODS, cookie_name, dashboard_path, origin_problem, send_sign_in_page, session_cookie
from .session import valid as valid_session

__all__ = ["TokenGuard", "token_problem", "token_step"]

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


def token_problem(scope: Scope, ctx: RouterContext, headers: Picked | None = None) -> Denial | None:
    route = route_class(scope.get("path", ""))
    if route == "asset":
        return None
    kind: Literal["http", "websocket"] = scope["type"]
    admin, page = _tokens(ctx)
    if headers is None:
        headers = Picked(scope)
    try:
        if route in ("public", "admin"):
            problem = origin_problem(scope, headers)
            if problem is not None or route == "public":
                return problem
        auth = one(headers, "authorization") or ""
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if _same(bearer, admin):
            return None
        if route == "admin":
            return _session_problem(scope, headers, admin)
        token = one(headers, "x-aiplugs-token")
        if token is None and kind == "websocket":
            token = _query_token(scope)
    except Ambiguous as e:
        return 400, str(e)
    if _same(token, page):
        return None
    return 401, "this route needs the page token (X-AIPlugs-Token header" + \
        (", or ?token= for WebSockets)" if kind == "websocket" else ")")


def _session_problem(scope: Scope, headers: Picked, admin: str) -> Denial | None:
    """The dashboard's cookie in place of the admin token; a state change with it must say it comes from us."""
    port = (scope.get("server") or (None, None))[1]
    if scope["type"] == "http" and valid_session(session_cookie(headers, cookie_name(port)), admin):
        if scope["method"] in SAFE_METHODS or one(headers, "origin") is not None:
            return None  # a foreign Origin was refused already
        return 403, "a state change signed in by the dashboard's cookie must carry the dashboard's Origin"
    return 401, ADMIN_NEEDED


async def token_step(scope: Scope, headers: Picked, ctx: RouterContext, receive: Receive, send: Send) -> bool:
    """The token rule: False when it answered (a refusal, or the sign-in page a browser gets for the dashboard)."""
    problem = token_problem(scope, ctx, headers)
    if problem is None:
        return True
    if problem[0] == 401 and _wants_page(scope, headers):
        await send_sign_in_page(send)
    else:
        await deny(scope, receive, send, *problem)
    return False


class TokenGuard:
    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not guarded(scope) or await token_step(scope, Picked(scope), self.ctx, receive, send):
            await self.app(scope, receive, send)


def _wants_page(scope: Scope, headers: Picked) -> bool:
    """A browser asking for a dashboard page (not a script or a fetch of JSON)."""
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not dashboard_path(scope["path"]):
        return False
    return "text/html" in (headers.get("accept") or "")
