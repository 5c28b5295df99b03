"""Every request's ``Host`` must be a loopback name (DNS-rebinding defence: 403) on the port we listen on (421).

Starlette's ``TrustedHostMiddleware`` does not fit: it matches names against a fixed list (no "any loopback address"
such as ``127.0.0.2`` or ``[::1]``), ignores the port, answers 400 for every refusal and reads the first of repeated
``Host`` headers.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from ._asgi import Ambiguous, Denial, Picked, deny, guarded, one

__all__ = ["HostGuard", "check_host", "host_problem", "is_loopback"]


def is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=256)
def check_host(host: str | None, port: int | None) -> Denial | None:
    """None when ``host`` (a Host header) names a loopback address on ``port``; else (status, reason).

    Pure, and on every request's path (urlsplit + ip_address were ~8 % of the router's CPU per call in
    benchmarks/bench_router.py): remembered per (Host, port); a client sends the same Host every time."""
    if not host:
        return 403, "missing Host header"
    try:
        parts = urlsplit("//" + host)
        name, given = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return 403, f"malformed Host header {host!r}"
    if not is_loopback(name):
        return 403, f"Host {host!r} is not a loopback name (DNS-rebinding defence)"
    if port is not None and given is not None and given != port:
        return 421, f"Host {host!r} names another port; this router listens on {port}"
    if port is not None and given is None and port != 80:
        return 421, f"Host {host!r} has no port; this router listens on {port}"
    return None


def host_problem(scope: Scope, headers: Picked | None = None) -> Denial | None:
    try:
        host = one(Picked(scope) if headers is None else headers, "host")
    except Ambiguous as e:  # RFC 9112 §3.2: more than one Host is a 400
        return 400, str(e)
    server = scope.get("server") or (None, None)
    return check_host(host, server[1])


class HostGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = host_problem(scope) if guarded(scope) else None
        if problem is not None:
            await deny(scope, receive, send, *problem)
            return
        await self.app(scope, receive, send)
