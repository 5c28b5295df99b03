"""The dashboard's session cookie, and the Origin rule for requests that change state.

``aiplugs dashboard`` opens ``/login#token=<admin token>``; the login page exchanges the token for this cookie and
moves on, so the token never stays in the address bar, the page or the history. A session is
``v1.<expires>.<nonce>.<mac>``, the mac an HMAC-SHA256 keyed with the admin token: nothing is stored, a session
outlives a daemon restart, and every session dies with the admin token it was made from.

The cookie is ``HttpOnly`` (no script reads it) and ``SameSite=Strict`` (no other site's navigation or form
carries it). SameSite cannot tell two ports of one host apart — ``http://127.0.0.1:8000`` is the same site as
the dashboard — so every state change must also come with the dashboard's own ``Origin``: a POST carrying a
foreign Origin is refused whatever its credentials, and one signed in by the cookie alone must carry an Origin.
The cookie's name holds the port, as cookies ignore ports and two projects' dashboards would otherwise take each
other's sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope, Send

from ._asgi import Ambiguous, Denial, Picked, one

__all__ = ["SAFE_METHODS", "SESSION_S", "cleared_cookie", "cookie_name", "dashboard_path", "issue", "origin_problem",
           "own_origin", "send_sign_in_page", "session_cookie", "set_cookie", "valid"]

SESSION_S = 12 * 3600
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_VERSION = "v1"
SIGN_IN_PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>aiplugs: sign in</title><link rel="stylesheet" href="/ui/static/dashboard.css"></head>
<body><main class="narrow"><h1>Sign in to the aiplugs dashboard</h1>
<p>This page needs the dashboard's session. Run <code>aiplugs dashboard</code> in the project's folder: it opens
this dashboard signed in. Or <a href="/login">sign in with the admin token</a>.</p></main></body></html>
"""


def cookie_name(port: int | None) -> str:
    return f"aiplugs_session_{port}" if port else "aiplugs_session"


def _mac(admin_token: str, payload: str) -> str:
    return hmac.new(admin_token.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue(admin_token: str, now: float | None = None, lifetime_s: int = SESSION_S) -> str:
    """A new session value, valid for ``lifetime_s`` from ``now``."""
    expires = int((time.time() if now is None else now) + lifetime_s)
    payload = f"{_VERSION}.{expires}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_mac(admin_token, payload)}"


def valid(value: str | None, admin_token: str, now: float | None = None) -> bool:
    """Whether ``value`` is a session made with ``admin_token`` that has not expired."""
    if not value or not admin_token:
        return False
    payload, _, mac = value.rpartition(".")
    version, _, rest = payload.partition(".")
    expires = rest.partition(".")[0]
    if version != _VERSION or not expires.isdigit():
        return False
    if not hmac.compare_digest(mac.encode(), _mac(admin_token, payload).encode()):
        return False
    return int(expires) > (time.time() if now is None else now)


def set_cookie(name: str, value: str, lifetime_s: int = SESSION_S) -> str:
    """The ``Set-Cookie`` value; no ``Secure``, as the dashboard is plain HTTP on loopback."""
    return f"{name}={value}; Path=/; Max-Age={lifetime_s}; HttpOnly; SameSite=Strict"


def cleared_cookie(name: str) -> str:
    return f"{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"


def session_cookie(headers: Headers | Picked, name: str) -> str | None:
    """The session cookie's value; raises ``Ambiguous`` when the request carries it more than once."""
    found = []
    for line in headers.getlist("cookie"):
        for part in line.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                found.append(value)
    if len(found) > 1:
        raise Ambiguous(f"{name} cookie")
    return found[0] if found else None


def own_origin(origin: str, host: str | None) -> bool:
    """Whether ``origin`` is this server's own (``http://`` + the request's Host, which HostGuard checked)."""
    if not host:
        return False
    try:
        given, ours = urlsplit(origin), urlsplit(f"http://{host}")
        return (given.scheme == "http" and given.hostname is not None and given.hostname == ours.hostname
                and given.port == ours.port and given.path in ("", "/"))
    except ValueError:
        return False


def origin_problem(scope: Scope, headers: Headers | Picked) -> Denial | None:
    """A state change (any method but GET/HEAD/OPTIONS) carrying an Origin that is not ours: 403."""
    if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
        return None
    origin = one(headers, "origin")
    if origin is not None and not own_origin(origin, one(headers, "host")):
        return 403, f"a state change from origin {origin!r} is refused: only the dashboard's own pages may ask"
    return None


def dashboard_path(path: str) -> bool:
    """The dashboard's HTML pages: ``/`` and ``/ui/...``."""
    return path == "/" or path.startswith("/ui/")


async def send_sign_in_page(send: Send) -> None:
    """The 401 a browser gets for a dashboard page without a session: how to sign in, and nothing else."""
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(SIGN_IN_PAGE)).encode()),
        (b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'none'; style-src 'self'; frame-ancestors 'none'")]})
    await send({"type": "http.response.body", "body": SIGN_IN_PAGE})
