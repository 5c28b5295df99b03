"""``WS /v1/plugins/{id}/ws?client_id=...``: one live connection per (plugin, client), relayed to ``on_message``.

A new connection with the same pair closes the old one with code 4000 (the zombie-connection killer): a reloaded
tab reconnects with its client id, and the stale socket of the previous page must not keep a worker busy.
Each text message is parsed as JSON (else passed as a string) and sent to the backend's ``on_message``; every
value it returns or yields (None excepted) goes back as one JSON text message. Errors come back as
``{"error": {"type", "message"}}`` and the connection stays open.
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator

from starlette.websockets import WebSocket, WebSocketState

from ..workers import WorkerError
from .plugins import provision
from .context import RouterContext

__all__ = ["REPLACED", "ConnectionManager", "received_texts", "websocket_endpoint"]

REPLACED = 4000
REPLACED_REASON = "replaced by a newer connection with the same client_id"


class ConnectionManager:
    def __init__(self) -> None:
        self._open: dict[tuple[str, str], WebSocket] = {}

    async def register(self, plugin_id: str, client_id: str, websocket: WebSocket) -> None:
        key = (plugin_id, client_id)
        old = self._open.get(key)
        self._open[key] = websocket
        if old is not None and old.application_state == WebSocketState.CONNECTED:
            try:
                await old.close(code=REPLACED, reason=REPLACED_REASON)
            except RuntimeError:  # it was closing already
                pass

    def unregister(self, plugin_id: str, client_id: str, websocket: WebSocket) -> None:
        if self._open.get((plugin_id, client_id)) is websocket:
            del self._open[(plugin_id, client_id)]

    def __len__(self) -> int:
        return len(self._open)

    async def close_all(self) -> None:
        for websocket in list(self._open.values()):
            try:
                await websocket.close(code=1001, reason="router stopping")
            except RuntimeError:
                pass
        self._open.clear()


async def websocket_endpoint(websocket: WebSocket) -> None:
    ctx: RouterContext = websocket.app.state.ctx
    connections: ConnectionManager = websocket.app.state.connections
    plugin_id = websocket.path_params["plugin_id"]
    client_id = websocket.query_params.get("client_id", "")
    await websocket.accept()
    problem = _problem(ctx, plugin_id, client_id)
    route = ctx.route(plugin_id)
    if problem is None and route is not None:
        failed = await provision(ctx, route)
        if failed is not None:
            problem = (1011, failed.splitlines()[0][:120])
    if problem is None and not ctx.workers.has(plugin_id):
        problem = (4405, f"plugin {plugin_id!r} has no local workers to serve WebSockets")
    if problem is not None:
        await websocket.close(code=problem[0], reason=problem[1])
        return
    await connections.register(plugin_id, client_id, websocket)
    try:
        async for text in received_texts(websocket):
            try:
                payload: Any = json.loads(text)
            except ValueError:
                payload = text
            if not await _answer(ctx, websocket, plugin_id, client_id, payload):
                return
    except RuntimeError:  # closed under us (replaced by a newer connection)
        return
    finally:
        connections.unregister(plugin_id, client_id, websocket)


async def received_texts(websocket: WebSocket) -> AsyncIterator[str]:
    """Each message as text (bytes read as UTF-8) until the client disconnects."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        yield text if text is not None else (message.get("bytes") or b"").decode("utf-8", "replace")


async def _answer(ctx: RouterContext, websocket: WebSocket, plugin_id: str, client_id: str, payload: Any) -> bool:
    """Relays one message; False once the socket is no longer ours to write to."""
    try:
        reply = await ctx.workers.message(plugin_id, client_id, payload)
        async for item in reply:
            if item is not None:
                if websocket.application_state != WebSocketState.CONNECTED:
                    await reply.aclose()
                    return False
                await websocket.send_text(json.dumps(item))
    except WorkerError as e:
        if websocket.application_state != WebSocketState.CONNECTED:
            return False
        await websocket.send_text(json.dumps({"error": e.to_dict()}))
    return websocket.application_state == WebSocketState.CONNECTED


def _problem(ctx: RouterContext, plugin_id: str, client_id: str) -> tuple[int, str] | None:
    if not client_id or len(client_id) > 200:
        return 1008, "client_id query parameter is required (at most 200 characters)"
    route = ctx.route(plugin_id)
    if route is None:
        return 4404, f"no enabled plugin {plugin_id!r}"
    if route.relay is not None:
        return 4405, f"plugin {plugin_id!r} has no local workers to serve WebSockets"
    return None
