"""``GET /api/events``: the event bus as Server-Sent Events (``?replay=1`` first sends the recent history;
``?follow=0`` ends the stream after it: the recent events and nothing more)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ...events import Event
from ...util.redact import redact
from ...util.sse import encode
from .context import RouterContext

__all__ = ["event_stream", "format_event"]

KEEPALIVE_S = 15.0


def format_event(event: Event, secrets: tuple[str, ...] = ()) -> bytes:
    return encode(redact(event.to_dict(), secrets), event=event.type, id=event.seq)


async def event_stream(request: Request) -> StreamingResponse:
    ctx: RouterContext = request.app.state.ctx
    replay = request.query_params.get("replay", "") in ("1", "true", "yes")
    if request.query_params.get("follow", "") in ("0", "false", "no"):
        recent = ctx.events.history()

        async def once() -> AsyncIterator[bytes]:
            for event in recent:
                yield format_event(event, ctx.secrets())

        return StreamingResponse(once(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    subscription = ctx.events.subscribe(replay=replay)

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n: aiplugs events\n\n"
            iterator = subscription.__aiter__()
            while True:
                try:
                    event = await asyncio.wait_for(iterator.__anext__(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                except StopAsyncIteration:
                    return
                yield format_event(event, ctx.secrets())
        finally:
            subscription.close()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
