"""``Guard``: the whole front door as one pure-ASGI middleware, the rules in the order the package docstring gives.

One middleware rather than four: the rules are the same (host.py, cors.py, tokens.py, body.py, each also usable
alone as its own middleware), but a request pays for one layer, and the headers they decide on are picked out of
the request once (``Picked``) instead of once per rule. On the router's hot path (a page's plugin call) the four
layers, each reading its headers anew, were ~15 % of the router's CPU per call (``benchmarks/bench_router.py``).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..context import RouterContext
from ._asgi import Picked, deny
from .body import body_step
from .cors import cors_step
from .host import host_problem
from .tokens import token_step

__all__ = ["Guard"]


class Guard:
    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = Picked(scope)
        problem = host_problem(scope, headers)  # first: nothing else runs for a rebinding page
        if problem is not None:
            await deny(scope, receive, send, *problem)
            return
        # CORS before tokens (preflights carry none); its send also carries the refusals below to an allowed page
        go_on = await cors_step(scope, headers, self.ctx, receive, send)
        if go_on is None:
            return
        send = go_on
        if not await token_step(scope, headers, self.ctx, receive, send):
            return
        body = await body_step(scope, headers, self.ctx, receive, send)  # read only once the caller proved who
        if body is not None:
            await self.app(scope, body, send)
