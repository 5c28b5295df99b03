"""The request body size limit (413), checked on the declared length and again while reading (chunked bodies).

The body is read here, up to the limit, and replayed to the app: a route never sees more than the limit, whatever
it does with the body. Two ``Content-Length`` headers are a 400 (RFC 9112 §6.3: the framing is unknowable).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..context import RouterContext
from ._asgi import Ambiguous, Picked, deny, one

__all__ = ["BODY_METHODS", "BodyLimit", "body_step"]

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _limit(ctx: RouterContext) -> int:
    """The one place the guard reads the limit from the context; read per request, so a re-apply takes effect."""
    return ctx.max_body_bytes


async def body_step(scope: Scope, headers: Picked, ctx: RouterContext, receive: Receive, send: Send
                    ) -> Receive | None:
    """The body rule: None when it answered (400, 413), else the ``receive`` to go on with (replaying the body
    read here, for methods that carry one)."""
    if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
        return receive
    limit = _limit(ctx)
    try:
        length = one(headers, "content-length")
    except Ambiguous as e:
        await deny(scope, receive, send, 400, str(e))
        return None
    if length is not None and length.isdigit() and int(length) > limit:
        await deny(scope, receive, send, 413, f"request body exceeds the {limit}-byte limit")
        return None
    body, more = await _read_limited(receive, limit)
    if more:
        await deny(scope, receive, send, 413, f"request body exceeds the {limit}-byte limit")
        return None
    return _replay(body, receive)


class BodyLimit:
    def __init__(self, app: ASGIApp, ctx: RouterContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        go_on = await body_step(scope, Picked(scope), self.ctx, receive, send) if scope["type"] == "http" else receive
        if go_on is not None:
            await self.app(scope, go_on, send)


async def _read_limited(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The body, or (b"", True) as soon as it grows past ``limit``."""
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
