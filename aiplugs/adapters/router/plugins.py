"""Page-facing plugin routes: ``POST /v1/plugins/{id}/run``, ``POST /v1/plugins/{id}/tools/{tool}`` and
``GET /v1/plugins/{id}/assets/{path}``.

``run`` is the default tool: ``/run`` is the tool route with tool ``run``, and both answer the same way. A call
answers with the tool's return value as JSON (``null`` included). When the tool returns a (async) generator, or
the client sends ``Accept: text/event-stream``, the answer is SSE: one ``data: <json>`` per item; the stream ends
when the response does (no end marker, so the page loader's ``stream()`` resolves with the last item); a failure
mid-stream is an ``event: error`` whose data is ``{"type", "message", "plugin"}``.
Errors before the answer starts are JSON ``{"error": {"type", "message", ...}}`` with the status of the failure:
404 unknown plugin or tool (tools.py), 400 bad JSON, 422 input not fitting the tool's ``input_schema`` (with
``errors``: every field by path), 500 backend raised (type + message), 502 worker died, 503 no worker, 504 timeout.
Cloud-mode plugins relay ``run`` only.
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ...errors import AiplugsError, did_you_mean
from ..workers import Reply, WorkerError
from ..workers.protocol import Encoded, encode_json
from ...plan import RouteSpec
from ...util.sse import encode
from .context import RouterContext
from .tools import DEFAULT_TOOL, Refusal, resolve_tool

__all__ = ["JSONAnswer", "PluginCalls", "ToolCall", "call_tool", "error_response", "not_routed", "provision",
           "run_plugin", "run_tool", "serve_asset"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CACHE_HIT = {"X-Aiplugs-Cache": "hit"}  # answered by the router's response cache, without a worker
# A request body goes to the worker as sent (protocol.Encoded) unless it holds one of these: NUL bytes (UTF-16 or
# UTF-32 text, which json.loads also takes), surrogates (escaped, or the 0xED lead byte json.loads lets pass), NaN
# or Infinity, which re-encoding refuses: those payloads go the old way, and fail as before. (A number beyond a
# float's range, 1e400, now reaches the backend as inf where re-encoding refused it.) A BOM goes the old way too.
_REENCODE = re.compile(rb"\x00|\xed|\\u[dD]|NaN|Infinity|\A\xef\xbb\xbf")


def error_response(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)


def worker_error_response(e: WorkerError, plugin_id: str) -> JSONResponse:
    return JSONResponse({"error": {**e.to_dict(), "plugin": plugin_id}}, status_code=e.status)


class JSONAnswer:
    """A 200 JSON answer whose body is ready (a worker's result as it sent it): sent as Starlette's
    JSONResponse would send it (same headers), without building one."""

    __slots__ = ("body",)
    status_code = 200

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(self.body)).encode("latin-1")), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": self.body})


class ToolCall:
    """``POST /v1/plugins/{id}/run`` (``tool`` "run") and ``POST /v1/plugins/{id}/tools/{tool}`` (``tool``
    None: from the path) as a plain ASGI app: the pages' hot path, so no Request object and no Response object
    for a worker's plain answer (Starlette's Route runs a class instance as ASGI)."""

    def __init__(self, tool: str | None = None) -> None:
        self.tool = tool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        response = await call_tool(scope, receive, params["plugin_id"], self.tool or params["tool"])
        await response(scope, receive, send)


run_plugin = ToolCall(DEFAULT_TOOL)  # the default tool
run_tool = ToolCall()


class PluginCalls:
    """Middleware sending ``POST /v1/plugins/{id}/run`` and ``POST /v1/plugins/{id}/tools/{tool}`` straight to
    their routes' endpoints, past Starlette's exception middleware and router (those layers were ~10 % of the
    router's CPU per call in benchmarks/bench_router.py). It takes only what Starlette's router would send to
    the same route, with the same ``path_params``, ``route`` and ``endpoint`` in the scope; any other request, a
    wrong method (405), a trailing slash (redirect) or a ``root_path`` included, goes on to Starlette as before.

    It sits after the guard, so what it takes was checked. What an endpoint raises goes out to Starlette's
    ServerErrorMiddleware as from the router: the app has no exception handler that would catch it on the way
    (Starlette's own handle only HTTPException, which a plugin call never raises)."""

    def __init__(self, app: ASGIApp, run: Route, tool: Route) -> None:
        self.app = app
        self.run, self.tool = run, tool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        await route.app(scope, receive, send)

    def _route(self, scope: Scope) -> Route | None:
        """The route taking this request (its scope updated as Starlette's router would), or None."""
        path: str = scope["path"]
        if scope["method"] != "POST" or not path.startswith("/v1/plugins/") or scope.get("root_path"):
            return None
        parts = path[12:].split("/")  # after "/v1/plugins/": the id, then "run" or "tools", the tool
        if not parts[0]:
            return None
        if len(parts) == 2 and parts[1] == "run":
            route, params = self.run, {"plugin_id": parts[0]}
        elif len(parts) == 3 and parts[1] == "tools" and parts[2]:
            route, params = self.tool, {"plugin_id": parts[0], "tool": parts[2]}
        else:
            return None
        path_params = scope.get("path_params")
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {**path_params, **params} if path_params else params
        return route


async def call_tool(scope: Scope, receive: Receive, plugin_id: str, name: str) -> ASGIApp:
    state = scope["app"].state
    ctx: RouterContext = state.ctx
    metrics = state.metrics
    started = time.monotonic()
    route = ctx.route(plugin_id)
    if route is None:
        return not_routed(ctx, plugin_id)
    mode = "cloud" if route.relay is not None else "local"
    tool = resolve_tool(route, name)
    if isinstance(tool, Refusal):
        metrics.observe(plugin_id, mode, time.monotonic() - started, tool.status)
        return error_response(tool.status, tool.kind, tool.message, **tool.extra)
    body = await _read_body(receive)
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError as e:
        return error_response(400, "bad_json", f"request body is not JSON: {e}")
    refusal = await state.validators.refusal(route, tool, payload, size=len(body))
    if refusal is not None:
        metrics.observe(plugin_id, mode, time.monotonic() - started, refusal.status)
        return error_response(refusal.status, refusal.kind, refusal.message, **refusal.extra)
    wants_sse = _wants_sse(scope)
    if route.relay is not None:
        response = await state.relay.forward(route.relay, payload, wants_sse)
        metrics.observe(plugin_id, mode, time.monotonic() - started, response.status_code)
        return response
    key, cached = state.caches.lookup(route, name, payload, body)  # cache.py: off unless cache_ttl_s
    if cached is not None and not wants_sse:
        metrics.observe(plugin_id, mode, time.monotonic() - started, 200)
        return Response(cached, media_type="application/json", headers=CACHE_HIT)
    problem = await provision(ctx, route)
    if problem is not None:
        metrics.observe(plugin_id, mode, time.monotonic() - started, 503)
        return error_response(503, "unavailable", problem, plugin=plugin_id)
    sent = Encoded(payload, body) if _passable(body) else payload  # the body as sent: no second encoding
    try:  # run goes out without a tool name: the frame a backend without named tools has always seen
        reply = await ctx.workers.request(plugin_id, sent, tool=None if name == DEFAULT_TOOL else name)
    except WorkerError as e:
        response = worker_error_response(e, plugin_id)
        metrics.observe(plugin_id, mode, time.monotonic() - started, response.status_code)
        return response
    metrics.observe(plugin_id, mode, time.monotonic() - started, 200)
    if reply.streaming or wants_sse:
        return StreamingResponse(_sse(reply, plugin_id), media_type="text/event-stream", headers=SSE_HEADERS)
    text = getattr(reply, "text", None)  # a local worker's answer comes with its JSON; a Ray replica's does not
    answer = JSONAnswer(text if text is not None else encode_json(reply.value).encode("utf-8"))
    state.caches.store(route, key, answer.body)  # a complete answer only: never a stream or error
    return answer


async def _read_body(receive: Receive) -> bytes:
    """The request body (the guard has read it already and replays it in one message)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        if not more and not chunks:
            return chunk
        chunks.append(chunk)
        if not more:
            return b"".join(chunks)


def _passable(body: bytes) -> bool:
    """Whether a body json.loads took may go to the worker as it is (see _REENCODE)."""
    return bool(body.strip()) and _REENCODE.search(body) is None


def _wants_sse(scope: Scope) -> bool:
    """Accept (its first line, as Starlette's Headers.get reads it) asks for an event stream."""
    for key, value in scope["headers"]:
        if key == b"accept":
            return b"text/event-stream" in value
    return False


async def _sse(reply: Reply, plugin_id: str) -> AsyncIterator[bytes]:
    try:
        async for item in reply:
            yield encode(item)
    except WorkerError as e:
        yield encode({**e.to_dict(), "plugin": plugin_id}, event="error")
    finally:
        await reply.aclose()


def not_routed(ctx: RouterContext, plugin_id: str) -> JSONResponse:
    disabled = ctx.desired is not None and plugin_id in ctx.desired.disabled
    why = "is disabled" if disabled else f"does not exist{did_you_mean(plugin_id, ctx.routes)}"
    return error_response(404, "not_found", f"plugin {plugin_id!r} {why}")


async def provision(ctx: RouterContext, route: RouteSpec) -> str | None:
    """A lazy plugin's first call asks the daemon for its workers (and waits); the problem, if that failed."""
    if not route.lazy or ctx.demand is None or ctx.workers.serving(route.plugin_id):
        return None
    try:
        await ctx.demand(route.plugin_id)
    except AiplugsError as e:
        return str(e)
    return None


async def serve_asset(request: Request) -> Response:
    ctx: RouterContext = request.app.state.ctx
    plugin_id = request.path_params["plugin_id"]
    path = request.path_params["path"]
    route = ctx.route(plugin_id)
    if route is None or path not in route.assets:
        return error_response(404, "not_found", f"plugin {plugin_id!r} declares no content script {path!r}")
    root = Path(route.plugin.dir).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():  # a symlink out of the folder, or missing
        return error_response(404, "not_found", f"asset {path!r} of plugin {plugin_id!r} is missing")
    media = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}.get(
        target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return FileResponse(target, media_type=f"{media}; charset=utf-8" if media.startswith("text/") else media,
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
