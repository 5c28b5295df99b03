"""The Starlette app: routes and the control API; the guard middlewares (guard/) wrap all of it.

Routes (see guard/tokens.py for who may call what):
  GET  /api/health                      liveness, no token
  GET  /proxy.pac                       proxy auto-config: matched hosts to the proxy, the rest DIRECT; no token
  GET  /welcome                         what `aiplugs browser` opens: enabled plugins and pages to try; no token
  GET  /api/state  /api/plugins         desired + observed state (secrets masked); plugin list
  GET  /api/plugins/{id}                one plugin: mode, dependencies, subscriptions, tools with input schemas
  GET  /api/events                      SSE of the event bus
  GET  /metrics                         Prometheus text
  GET  /api/metrics[/{id}]  /api/top    metrics history (?since=&until=&step=); live counters  (stats.py)
  GET  /api/suggestions[/history|/{id}]  suggestions with evidence and diffs; applied ones   (suggestions_api.py)
  POST /api/suggestions/{id}/apply|reject|revert  act on one; POST /api/suggestions/evaluate (suggestions_api.py)
  GET  /api/status                      control.status()
  POST /api/apply  /api/down            control.apply(json) / control.down()
  POST /api/plugins/{id}/restart        control.restart(id)
  POST /api/models/pull                 control.pull_models(json["keys"])
  POST /api/installs                    control.start_install(json): 202 {job_id}  (installs.py)
  GET  /api/installs[/{job_id}]         install jobs, newest first; one job       (installs.py)
  POST /api/installs/{job_id}/cancel|retry  stop a job; a new attempt (retry_of)    (installs.py)
  POST /v1/plugins/{id}/run             the plugin's run(payload): its default tool      (plugins.py)
  POST /v1/plugins/{id}/tools/{tool}    a declared tool; input checked against its schema (plugins.py, tools.py)
  GET  /v1/plugins/{id}/assets/{path}   declared content scripts / css                    (plugins.py)
  WS   /v1/plugins/{id}/ws?client_id=   the plugin's on_message                           (ws.py)
  WS   /v1/events/ws                    a page's events: subscribe, publish, receive      (page_events.py)
  GET  /  /ui/*  /login                 the web dashboard (session cookie or admin token)  (dashboard/)
Through the proxy the same routes answer same-origin under ``/__aiplugs__/`` on intercepted sites.
Layers: Starlette's ServerErrorMiddleware, the guard, ``PluginCalls`` (plugin calls straight to their endpoint,
plugins.py), Starlette's ExceptionMiddleware and router.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from ...errors import AiplugsError, ConfigError
from ...util.redact import redact
from .cache import ResponseCaches
from .context import RouterContext
from .dashboard import dashboard_routes
from .events import event_stream
from .guard import guard_middleware
from .admin_api import json_object
from .installs import install_routes
from .metrics import Metrics
from .page_events import EventSockets, events_endpoint
from .plugins import PluginCalls, error_response, not_routed, run_plugin, run_tool, serve_asset
from .relay import Relay
from .stats import stats_routes
from .suggestions_api import suggestion_routes
from .tools import ToolValidators, tool_info
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
    """The last applied declaration, the routes in force and every worker slot (secrets masked)."""
    ctx = _ctx(request)
    workers, history = ctx.workers.observe()
    data: dict[str, Any] = {
        "desired": ctx.desired.to_dict() if ctx.desired is not None else None,
        "routes": {pid: {"mode": r.plugin.mode, "assets": list(r.assets), "lazy": r.lazy}
                   for pid, r in ctx.routes.items()},
        "workers": [asdict(w) for w in workers],
        "plugins": [asdict(h) for h in history],
    }
    return _json(request, data)


async def plugins(request: Request) -> Response:
    """The plugins the router serves now (its routes), with their workers or relay."""
    ctx = _ctx(request)
    items = []
    for route in ctx.routes.values():
        plugin = route.plugin
        item: dict[str, Any] = {
            "id": plugin.id, "name": plugin.name, "version": plugin.version, "description": plugin.description,
            "mode": plugin.mode, "provision": plugin.provision, "dependencies": list(plugin.dependencies),
            "assets": sorted(route.assets), "run": f"/v1/plugins/{plugin.id}/run", "ws": f"/v1/plugins/{plugin.id}/ws",
        }
        if route.relay is None:
            stats = ctx.workers.stats(plugin.id) or {"ready": 0, "pids": []}
            item["workers"] = {"ready": stats["ready"], "pids": stats["pids"]}
        else:
            item["relay"] = {"path": route.relay.path, "model": route.relay.model,
                             "configured": bool(route.relay.cloud.base_url)}
        items.append(item)
    disabled = list(ctx.desired.disabled) if ctx.desired is not None else []
    return _json(request, {"plugins": items, "disabled": disabled})


async def plugin_detail(request: Request) -> Response:
    """One plugin the router serves: what it offers (tools with their input schemas) and what it listens to."""
    ctx = _ctx(request)
    plugin_id = request.path_params["plugin_id"]
    route = ctx.route(plugin_id)
    if route is None:
        return not_routed(ctx, plugin_id)
    plugin = route.plugin
    return _json(request, {
        "id": plugin.id, "name": plugin.name, "version": plugin.version, "description": plugin.description,
        "mode": plugin.mode, "dependencies": list(plugin.dependencies), "subscribes": list(plugin.subscribes),
        "page_events": plugin.page_events, "tools": [tool_info(t) for t in plugin.tools],
    })


async def proxy_pac(request: Request) -> Response:
    """Sends hosts some enabled plugin matches to the proxy, everything else DIRECT (``?all=1``: everything);
    the rules are the ones the running proxy has (none running: everything DIRECT)."""
    from ..proxy.pac import MEDIA_TYPE, pac_script

    ctx = _ctx(request)
    proxy = ctx.proxy
    everything = request.query_params.get("all", "") in ("1", "true", "yes")
    api = request.scope.get("server")
    text = pac_script(proxy.spec if proxy else None, proxy.address if proxy else None, everything=everything,
                      api=api)
    return Response(text, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    ctx = _ctx(request)
    text = request.app.state.metrics.render()
    for secret in ctx.secrets():
        text = text.replace(secret, "**********")
    return Response(text, media_type=request.app.state.metrics.content_type())


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


async def _pull(ctx: RouterContext, request: Request) -> Any:
    keys = (await json_object(request)).get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError('"keys" must be a list of strings')
    return await ctx.control.pull_models(keys)  # type: ignore[union-attr]


def create_app(ctx: RouterContext) -> Starlette:
    run = Route("/v1/plugins/{plugin_id}/run", run_plugin, methods=["POST"])
    tool = Route("/v1/plugins/{plugin_id}/tools/{tool}", run_tool, methods=["POST"])
    routes = [  # page routes first: they are the hot path (and PluginCalls takes the calls before the router)
        run,
        tool,
        Route("/v1/plugins/{plugin_id}/assets/{path:path}", serve_asset, methods=["GET", "HEAD"]),
        WebSocketRoute("/v1/plugins/{plugin_id}/ws", websocket_endpoint),
        WebSocketRoute("/v1/events/ws", events_endpoint),
        Route("/api/health", health, methods=["GET"]),
        Route("/proxy.pac", proxy_pac, methods=["GET"]),
        Route("/welcome", welcome, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/plugins", plugins, methods=["GET"]),
        Route("/api/plugins/{plugin_id}", plugin_detail, methods=["GET"]),
        Route("/api/events", event_stream, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/status", _control(lambda c, r: c.control.status()), methods=["GET"]),  # type: ignore[union-attr]
        Route("/api/apply", _control(lambda c, r: _apply(c, r)), methods=["POST"]),
        Route("/api/down", _control(lambda c, r: c.control.down()), methods=["POST"]),  # type: ignore[union-attr]
        Route("/api/plugins/{plugin_id}/restart",
              _control(lambda c, r: c.control.restart(r.path_params["plugin_id"])),  # type: ignore[union-attr]
              methods=["POST"]),
        Route("/api/models/pull", _control(_pull), methods=["POST"]),
        *install_routes(),
        *stats_routes(),
        *suggestion_routes(),
        *dashboard_routes(ctx),
    ]
    app = Starlette(routes=routes, middleware=[*guard_middleware(ctx), Middleware(PluginCalls, run=run, tool=tool)])
    app.state.ctx = ctx
    app.state.relay = Relay()
    app.state.connections = ConnectionManager()
    app.state.event_sockets = EventSockets()
    app.state.validators = ToolValidators()
    app.state.caches = ResponseCaches()  # per-plugin answers (cache_ttl_s) and repeat counts
    app.state.caches.watch(ctx.events)
    app.state.metrics = Metrics(ctx, app.state.connections)
    return app


async def _apply(ctx: RouterContext, request: Request) -> Any:
    return await ctx.control.apply(await json_object(request))  # type: ignore[union-attr]
