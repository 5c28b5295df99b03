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
import time
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from ...errors import AiplugsError, did_you_mean
from ..workers import Reply, WorkerError
from ...plan import RouteSpec
from ...util.sse import encode
from .context import RouterContext
from .tools import DEFAULT_TOOL, Refusal, resolve_tool

__all__ = ["call_tool", "error_response", "not_routed", "provision", "run_plugin", "run_tool", "serve_asset"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
CACHE_HIT = {"X-Aiplugs-Cache": "hit"}  # answered by the router's response cache, without a worker


def error_response(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)


def worker_error_response(e: WorkerError, plugin_id: str) -> JSONResponse:
    return JSONResponse({"error": {**e.to_dict(), "plugin": plugin_id}}, status_code=e.status)


async def run_plugin(request: Request) -> Response:
    """``POST /v1/plugins/{id}/run``: the default tool."""
    return await call_tool(request, request.path_params["plugin_id"], DEFAULT_TOOL)


async def run_tool(request: Request) -> Response:
    """``POST /v1/plugins/{id}/tools/{tool}``."""
    return await call_tool(request, request.path_params["plugin_id"], request.path_params["tool"])


async def call_tool(request: Request, plugin_id: str, name: str) -> Response:
    ctx: RouterContext = request.app.state.ctx
    metrics = request.app.state.metrics
    started = time.monotonic()
    route = ctx.route(plugin_id)
    if route is None:
        return not_routed(ctx, plugin_id)
    mode = "cloud" if route.relay is not None else "local"
    tool = resolve_tool(route, name)
    if isinstance(tool, Refusal):
        metrics.observe(plugin_id, mode, time.monotonic() - started, tool.status)
        return error_response(tool.status, tool.kind, tool.message, **tool.extra)
    body = await request.body()
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError as e:
        return error_response(400, "bad_json", f"request body is not JSON: {e}")
    refusal = await request.app.state.validators.refusal(route, tool, payload, size=len(body))
    if refusal is not None:
        metrics.observe(plugin_id, mode, time.monotonic() - started, refusal.status)
        return error_response(refusal.status, refusal.kind, refusal.message, **refusal.extra)
    wants_sse = "text/event-stream" in request.headers.get("accept", "")
    if route.relay is not None:
        response = await request.app.state.relay.forward(route.relay, payload, wants_sse)
        metrics.observe(plugin_id, mode, time.monotonic() - started, response.status_code)
        return response
    key, cached = request.app.state.caches.lookup(route, name, payload)  # cache.py: off unless cache_ttl_s
    if cached is not None and not wants_sse:
        metrics.observe(plugin_id, mode, time.monotonic() - started, 200)
        return Response(cached, media_type="application/json", headers=CACHE_HIT)
    problem = await provision(ctx, route)
    if problem is not None:
        metrics.observe(plugin_id, mode, time.monotonic() - started, 503)
        return error_response(503, "unavailable", problem, plugin=plugin_id)
    try:  # run goes out without a tool name: the frame a backend without named tools has always seen
        reply = await ctx.workers.request(plugin_id, payload, tool=None if name == DEFAULT_TOOL else name)
    except WorkerError as e:
        response = worker_error_response(e, plugin_id)
        metrics.observe(plugin_id, mode, time.monotonic() - started, response.status_code)
        return response
    metrics.observe(plugin_id, mode, time.monotonic() - started, 200)
    if reply.streaming or wants_sse:
        return StreamingResponse(_sse(reply, plugin_id), media_type="text/event-stream", headers=SSE_HEADERS)
    response = JSONResponse(reply.value)
    request.app.state.caches.store(route, key, response.body)  # a complete answer only: never a stream or error
    return response


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
