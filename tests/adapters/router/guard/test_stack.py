"""The order of the front door: Host first, then CORS (preflights carry no token), tokens, and the body last."""

from __future__ import annotations

from starlette.applications import Starlette

from aiplugs.adapters.router.guard import BodyLimit, CorsGuard, HostGuard, TokenGuard, guard_middleware

from .asgi import context


def test_guard_middleware_order() -> None:
    assert [m.cls for m in guard_middleware(context())] == [HostGuard, CorsGuard, TokenGuard, BodyLimit]
    Starlette(middleware=guard_middleware(context()))  # accepted as Starlette middleware
