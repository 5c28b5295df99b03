"""Signing in: the admin token, once, exchanged for the session cookie (guard/session.py), then a redirect.

``aiplugs dashboard`` opens ``/login#token=…``: a fragment never reaches a server, a log or a Referer. The login
page's script takes it out of the address bar (``history.replaceState``) before posting it, and the answer
redirects to the dashboard, so the token stays nowhere in the browser. Without JavaScript a person pastes the token
into the same form; ``/login?token=…`` (for a link typed by hand) redirects at once, which takes the token out
of the address bar too.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..guard.session import SESSION_S, cleared_cookie, cookie_name, issue, session_cookie, set_cookie, valid
from .core import Dashboard
from .forms import form

__all__ = ["login_page", "login_post", "logout"]


def _port(request: Request) -> int | None:
    server = request.scope.get("server") or (None, None)
    return server[1]


def _signed_in(dash: Dashboard, request: Request) -> RedirectResponse:
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store",
                                                               "Referrer-Policy": "no-referrer"})
    value = issue(dash.ctx.admin_token)
    response.headers.append("set-cookie", set_cookie(cookie_name(_port(request)), value, SESSION_S))
    return response


def _right(dash: Dashboard, given: str | None) -> bool:
    expected = dash.ctx.admin_token
    return bool(given) and hmac.compare_digest(given.strip().encode(), expected.encode())  # type: ignore[union-attr]


async def login_page(dash: Dashboard, request: Request) -> Response:
    """``GET /login``: the sign-in form (public, so it shows nothing but the form)."""
    values = request.query_params.getlist("token")
    if len(values) == 1:
        if _right(dash, values[0]):
            return _signed_in(dash, request)
        return dash.render(request, "login.html", {"failed": True}, status=401)
    try:
        current = session_cookie(request.headers, cookie_name(_port(request)))
    except ValueError:
        current = None
    if valid(current, dash.ctx.admin_token):
        return RedirectResponse("/", status_code=303)
    return dash.render(request, "login.html", {"failed": False})


async def login_post(dash: Dashboard, request: Request) -> Response:
    """``POST /login`` with ``token``: the cookie and a redirect, or the form again (401)."""
    fields = await form(request)
    if _right(dash, fields.get("token")):
        return _signed_in(dash, request)
    return dash.render(request, "login.html", {"failed": True}, status=401)


async def logout(dash: Dashboard, request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303, headers={"Cache-Control": "no-store"})
    response.headers.append("set-cookie", cleared_cookie(cookie_name(_port(request))))
    return response
