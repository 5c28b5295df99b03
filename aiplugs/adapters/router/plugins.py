"""Page-facing plugin routes: ``POST /v1/plugins/{id}/run`` and ``GET /v1/plugins/{id}/assets/{path}``.

A run answers with the backend's return value as JSON (``null`` included). When ``run`` returns a (async)
generator, or the client sends ``Accept: text/event-stream``, the answer is SSE: one ``data: <json>`` per item;
the stream ends when the response does (no end marker, so the page loader's ``stream()`` resolves with the last
item); a failure mid-stream is an ``event: error`` whose data is ``{"type", "message", "plugin"}``.
Errors before the answer starts are JSON ``{"error": {"type", "message", ...}}`` with the status of the failure:
404 unknown plugin, 400 bad JSON, 500 backend raised (type + message), 502 worker died, 503 no worker, 504 timeout.
"""

from __future__ import annotations

import json
import mimetypes
import time
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from ...errors import AiplugsError
from ..workers import Reply, WorkerError
from ...plan import RouteSpec
from ...util.sse import encode
from .context import RouterContext

__all__ = ["error_response", "not_routed", "provision", "run_plugin", "serve_asset"]

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def error_response(status: int, kind: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status_code=status)


def worker_error_response(e: WorkerError, plugin_id: str) -> JSONResponse:
    return JSONResponse({"error": {**e.to_dict(), "plugin": plugin_id}}, status_code=e.status)


async def run_plugin(request: Request) -> Response:
    ctx: RouterContext = request.app.state.ctx
    metrics = request.app.state.metrics
    plugin_id = request.path_params["plugin_id"]
    started = time.monotonic()
    route = ctx.route(plugin_id)
    if route is None:
        return not_routed(ctx, plugin_id)
    body = await request.body()
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError as e:
        return error_response(400, "bad_json", f"request body is not JSON: {e}")
    wants_sse = "text/event-stream" in request.headers.get("accept", "")
    if route.relay is not None:
        response = await request.app.state.relay.forward(route.relay, payload, wants_sse)
        metrics.observe(plugin_id, "cloud", time.monotonic() - started, response.status_code)
        return response
    problem = await provision(ctx, route)
    if problem is not None:
        metrics.observe(plugin_id, "local", time.monotonic() - started, 503)
        return error_response(503, "unavailable", problem, plugin=plugin_id)
    try:
        reply = await ctx.workers.request(plugin_id, payload)
    except WorkerError as e:
        response = worker_error_response(e, plugin_id)
        metrics.observe(plugin_id, "local", time.monotonic() - started, response.status_code)
        return response
    metrics.observe(plugin_id, "local", time.monotonic() - started, 200)
    if reply.streaming or wants_sse:
        return StreamingResponse(_sse(reply, plugin_id), media_type="text/event-stream", headers=SSE_HEADERS)
    return JSONResponse(reply.value)


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
    return error_response(404, "not_found", f"plugin {plugin_id!r} {'is disabled' if disabled else 'does not exist'}")


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
