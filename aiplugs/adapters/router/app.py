"""The Starlette app: routes and the control API; the Guard (auth.py) wraps all of it.

Routes (see auth.py for who may call what):
  GET  /api/health                      liveness, no token
  GET  /proxy.pac                       proxy auto-config: matched hosts to the proxy, the rest DIRECT; no token
  GET  /welcome                         what `aiplugs browser` opens: enabled plugins and pages to try; no token
  GET  /api/state  /api/plugins         desired + observed state (secrets masked); plugin list
  GET  /api/events                      SSE of the event bus
  GET  /metrics                         Prometheus text
  GET  /api/status                      control.status()
  POST /api/apply  /api/down            control.apply(json) / control.down()
  POST /api/plugins/{id}/restart        control.restart(id)
  POST /api/models/pull                 control.pull_models(json["keys"])
  POST /v1/plugins/{id}/run             the plugin's run(payload)        (plugins.py)
  GET  /v1/plugins/{id}/assets/{path}   declared content scripts / css  (plugins.py)
  WS   /v1/plugins/{id}/ws?client_id=   the plugin's on_message          (ws.py)
Through the proxy the same routes answer same-origin under ``/__aiplugs__/`` on intercepted sites.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from ...errors import AiplugsError, ConfigError
from .auth import Guard
from .context import RouterContext
from .events import event_stream
from .metrics import Metrics
from .plugins import declared_assets, error_response, run_plugin, serve_asset
from .redact import redact
from .relay import Relay
from .welcome import welcome
from .ws import ConnectionManager, websocket_endpoint

__all__ = ["create_app"]

STARTED = time.time()


def _ctx(request: Request) -> RouterContext:
    return request.app.state.ctx


def _json(request: Request, data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(redact(data, _ctx(request).secrets()), status_code=status)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True, "uptime_s": round(time.time() - STARTED, 3)})


async def state(request: Request) -> Response:
    ctx = _ctx(request)
    data: dict[str, Any] = {"desired": ctx.desired.to_dict(),
                            "workers": {pid: asdict(s) for pid, s in ctx.workers.snapshot().items()}}
    if ctx.state is not None:
        data["observed"] = ctx.state()
    return _json(request, data)


async def plugins(request: Request) -> Response:
    ctx = _ctx(request)
    pools = ctx.workers.snapshot()
    relays = {r.plugin_id: r for r in ctx.desired.relays}
    items = []
    for plugin in ctx.desired.plugins:
        pool = pools.get(plugin.id)
        item: dict[str, Any] = {
            "id": plugin.id, "name": plugin.name, "version": plugin.version, "description": plugin.description,
            "mode": plugin.mode, "provision": plugin.provision, "dependencies": list(plugin.dependencies),
            "assets": sorted(declared_assets(ctx, plugin.id)),
            "run": f"/v1/plugins/{plugin.id}/run", "ws": f"/v1/plugins/{plugin.id}/ws",
        }
        if plugin.mode == "local":
            item["workers"] = {"state": pool.state, "ready": pool.ready, "desired": pool.desired,
                               "pids": list(pool.pids)} if pool else {"state": "stopped"}
        elif plugin.id in relays:
            item["relay"] = {"path": relays[plugin.id].path, "model": relays[plugin.id].model,
                             "configured": bool(ctx.desired.cloud.base_url)}
        items.append(item)
    return _json(request, {"plugins": items, "disabled": list(ctx.desired.disabled)})


async def proxy_pac(request: Request) -> Response:
    """Sends hosts some enabled plugin matches to the proxy, everything else DIRECT (``?all=1``: everything)."""
    from ..proxy.pac import MEDIA_TYPE, pac_script

    ctx = _ctx(request)
    address = ctx.proxy.address if ctx.proxy is not None else None
    everything = request.query_params.get("all", "") in ("1", "true", "yes")
    api = request.scope.get("server")
    return Response(pac_script(ctx.desired.proxy, address, everything=everything, api=api), media_type=MEDIA_TYPE,
                    headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    ctx = _ctx(request)
    text = request.app.state.metrics.render(ctx.workers.snapshot(), ctx.desired, ctx.proxy)
    for secret in ctx.secrets():
        text = text.replace(secret, "**********")
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")


def _control(call: Callable[[RouterContext, Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx = _ctx(request)
        if ctx.control is None:
            return error_response(503, "unavailable", "no control endpoint: this router runs without a daemon")
        try:
            result = await call(ctx, request)
        except ConfigError as e:
            return _json(request, {"error": {"type": "config", "message": str(e),
                                             "problems": [str(p) for p in e.problems]}}, 400)
        except AiplugsError as e:
            return _json(request, {"error": {"type": type(e).__name__, "message": str(e)}}, 400)
        except ValueError as e:  # bad JSON body
            return error_response(400, "bad_request", str(e))
        return _json(request, result)

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"request body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


async def _pull(ctx: RouterContext, request: Request) -> Any:
    keys = (await _body(request)).get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError('"keys" must be a list of strings')
    return await ctx.control.pull_models(keys)  # type: ignore[union-attr]


def create_app(ctx: RouterContext) -> Starlette:
    routes = [  # page routes first: they are the hot path
        Route("/v1/plugins/{plugin_id}/run", run_plugin, methods=["POST"]),
        Route("/v1/plugins/{plugin_id}/assets/{path:path}", serve_asset, methods=["GET", "HEAD"]),
        WebSocketRoute("/v1/plugins/{plugin_id}/ws", websocket_endpoint),
        Route("/api/health", health, methods=["GET"]),
        Route("/proxy.pac", proxy_pac, methods=["GET"]),
        Route("/welcome", welcome, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/plugins", plugins, methods=["GET"]),
        Route("/api/events", event_stream, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/status", _control(lambda c, r: c.control.status()), methods=["GET"]),  # type: ignore[union-attr]
        Route("/api/apply", _control(lambda c, r: _apply(c, r)), methods=["POST"]),
        Route("/api/down", _control(lambda c, r: c.control.down()), methods=["POST"]),  # type: ignore[union-attr]
        Route("/api/plugins/{plugin_id}/restart",
              _control(lambda c, r: c.control.restart(r.path_params["plugin_id"])),  # type: ignore[union-attr]
              methods=["POST"]),
        Route("/api/models/pull", _control(_pull), methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(Guard, ctx=ctx)])
    app.state.ctx = ctx
    app.state.metrics = Metrics()
    app.state.relay = Relay()
    app.state.connections = ConnectionManager()
    return app


async def _apply(ctx: RouterContext, request: Request) -> Any:
    return await ctx.control.apply(await _body(request))  # type: ignore[union-attr]
