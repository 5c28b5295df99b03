"""``WS /v1/events/ws?token=<page token>``: one socket per page for the events between plugins and pages.

Client to server, one JSON object per message::

    {"op": "subscribe", "topics": ["word-count/*", "aiplugs/plugin.ready"]}
    {"op": "unsubscribe", "topics": ["word-count/*"]}
    {"op": "publish", "topic": "word-count/selected", "data": ...}

Server to client: ``{"op": "event", "event": {"type", "source", "data", "time"}}`` for each event a topic matches,
and ``{"op": "error", "message", ["topic"]}`` for a refused op (the socket stays open).

Who may do what rests on the page's ``Origin`` (browsers always send it on a WebSocket handshake, and the CORS
guard has already refused origins no plugin matches): a page may subscribe to and publish under ``<id>/...`` only
for plugins whose content-script patterns match its origin — the check the router applies to direct page calls,
per plugin — and may subscribe to the system's ``aiplugs/*`` events. A socket without an Origin (no browser page)
gets the system events only. Pages publish through ``PluginEvents.emit(..., source="page:<id>",
from_page=True)``: the event reaches plugins that declared ``page_events`` and page sockets whose topics match
(this one included, so content scripts of two plugins on one page can talk).

Each socket is one ``PluginEvents.subscribe_page`` subscription, replaced when its topics change (events still
queued for the old one are dropped with it) and removed when the socket closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from ...declaration.topics import SYSTEM_NAMESPACE, normalize_pattern, validate_topic
from ...errors import did_you_mean
from ...util.redact import redact
from .context import RouterContext
from .guard import origin_matches
from .ws import received_texts

__all__ = ["MAX_TOPICS", "NO_HUB", "EventSockets", "PageSession", "events_endpoint", "publish_problem",
           "subscribe_problem"]

MAX_TOPICS = 256  # per socket: every publish compares its topic with each subscriber's patterns
NO_HUB = 4503


def _plugin_problem(ctx: RouterContext, namespace: str, origin: str | None, verb: str) -> str | None:
    """Why a page at ``origin`` may not ``verb`` events of plugin ``namespace``, or None when it may."""
    route = ctx.route(namespace)
    if route is None:
        return f"no enabled plugin {namespace!r}{did_you_mean(namespace, ctx.routes)}"
    if origin is None or not origin_matches(origin, route.matches):
        page = f"a page at {origin}" if origin else "a client without an Origin"
        return f"{page} may not {verb} events of plugin {namespace!r}: none of its content scripts match it"
    return None


def subscribe_problem(ctx: RouterContext, pattern: Any, origin: str | None) -> str | None:
    """Why a page may not subscribe to ``pattern`` (``<id>/<name>`` or ``<id>/*``), or None."""
    if not isinstance(pattern, str) or "/" not in pattern:
        return f"a topic is <plugin-id>/<name> or <plugin-id>/* (got {pattern!r})"
    namespace = pattern.partition("/")[0]
    try:
        normalize_pattern(pattern, namespace)
    except ValueError as e:
        return str(e)
    if namespace == SYSTEM_NAMESPACE:
        return None
    return _plugin_problem(ctx, namespace, origin, "subscribe to")


def publish_problem(ctx: RouterContext, topic: Any, origin: str | None) -> str | None:
    """Why a page may not publish under ``topic``, or None."""
    if not isinstance(topic, str):
        return f"a topic is <plugin-id>/<name> (got {topic!r})"
    try:
        validate_topic(topic)
    except ValueError as e:
        return str(e)
    namespace = topic.partition("/")[0]
    if namespace == SYSTEM_NAMESPACE:
        return f"{SYSTEM_NAMESPACE}/... topics are the system's: pages may only subscribe to them"
    return _plugin_problem(ctx, namespace, origin, "publish")


class EventSockets:
    """The open event sockets, so that stopping the router closes them instead of waiting on them."""

    def __init__(self) -> None:
        self._open: set[WebSocket] = set()

    def add(self, websocket: WebSocket) -> None:
        self._open.add(websocket)

    def discard(self, websocket: WebSocket) -> None:
        self._open.discard(websocket)

    def __len__(self) -> int:
        return len(self._open)

    async def close_all(self) -> None:
        for websocket in list(self._open):
            try:
                await websocket.close(code=1001, reason="router stopping")
            except RuntimeError:
                pass
        self._open.clear()


class PageSession:
    """One page socket: its topics, its subscription and the ops it sends."""

    def __init__(self, ctx: RouterContext, websocket: WebSocket) -> None:
        assert ctx.plugin_events is not None
        self.ctx, self.hub, self.websocket = ctx, ctx.plugin_events, websocket
        self.origin = websocket.headers.get("origin")  # the guard refused a repeated one
        self.topics: dict[str, None] = {}  # ordered set
        self.handle: str | None = None
        self._sending = asyncio.Lock()  # events (the hub's task) and errors (the receive loop) share the socket

    async def send(self, message: dict[str, Any]) -> None:
        async with self._sending:
            if self.websocket.application_state != WebSocketState.CONNECTED:
                raise ConnectionError("the page's socket is closed")
            await self.websocket.send_text(json.dumps(message))

    async def forward(self, event: dict[str, Any]) -> None:
        """The hub's ``send``. System events are redacted as /api/events is; plugin data goes as published
        (workers never hold the router's secrets)."""
        if event.get("source") == SYSTEM_NAMESPACE:
            event = redact(event, self.ctx.secrets())
        await self.send({"op": "event", "event": event})

    def _resubscribe(self) -> None:
        """One subscription per socket, for all its topics: swapped in without an await, so nothing published
        meanwhile can miss both the old and the new one."""
        old, self.handle = self.handle, None
        if self.topics:
            self.handle = self.hub.subscribe_page(tuple(self.topics), self.forward)
        if old is not None:
            self.hub.unsubscribe(old)

    def close(self) -> None:
        if self.handle is not None:
            self.hub.unsubscribe(self.handle)
            self.handle = None

    async def handle_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        op = message.get("op") if isinstance(message, dict) else None
        if op not in ("subscribe", "unsubscribe", "publish"):
            await self.error('a message is a JSON object with "op": "subscribe", "unsubscribe" or "publish"')
        elif op == "publish":
            await self._publish(message["topic"] if "topic" in message else None, message.get("data"))
        elif not isinstance(message.get("topics"), list):
            await self.error(f'"{op}" needs "topics": a list of topics')
        elif op == "subscribe":
            await self._subscribe(message["topics"])
        else:
            self._unsubscribe(message["topics"])

    async def _publish(self, topic: Any, data: Any) -> None:
        problem = publish_problem(self.ctx, topic, self.origin)
        if problem is not None:
            await self.error(problem, topic)
            return
        self.hub.emit(topic, data, source=f"page:{topic.partition('/')[0]}", from_page=True)

    def _unsubscribe(self, topics: list[Any]) -> None:
        gone = [t for t in topics if isinstance(t, str) and t in self.topics]
        for topic in gone:
            del self.topics[topic]
        if gone:
            self._resubscribe()

    async def _subscribe(self, topics: list[Any]) -> None:
        refused: list[tuple[str, Any]] = []
        added = False
        for topic in topics:
            problem = subscribe_problem(self.ctx, topic, self.origin)
            if problem is None and topic not in self.topics and len(self.topics) >= MAX_TOPICS:
                problem = f"a socket may subscribe to at most {MAX_TOPICS} topics"
            if problem is not None:
                refused.append((problem, topic))
            elif topic not in self.topics:
                self.topics[topic] = None
                added = True
        if added:
            self._resubscribe()
        for problem, topic in refused:
            await self.error(problem, topic)

    async def error(self, message: str, topic: Any = None) -> None:
        reply: dict[str, Any] = {"op": "error", "message": message}
        if isinstance(topic, str):
            reply["topic"] = topic
        await self.send(reply)


async def events_endpoint(websocket: WebSocket) -> None:
    ctx: RouterContext = websocket.app.state.ctx
    sockets: EventSockets = websocket.app.state.event_sockets
    await websocket.accept()
    if ctx.plugin_events is None:
        await websocket.close(code=NO_HUB, reason="this router has no plugin events")
        return
    session = PageSession(ctx, websocket)
    sockets.add(websocket)
    try:
        async for text in received_texts(websocket):
            await session.handle_text(text)
    except (RuntimeError, ConnectionError, WebSocketDisconnect):  # closed under us (or the router stopping)
        return
    finally:
        session.close()
        sockets.discard(websocket)
