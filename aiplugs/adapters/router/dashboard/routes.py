"""The dashboard's routes. Every page is a GET that changes nothing; every action is a form POST that redirects
back (post/redirect/get), so all of it works without JavaScript. Who may call them is the guard's decision
(guard/tokens.py: the session cookie or the admin token; ``/login`` and ``/ui/static/`` are public).

  GET  /                                   Overview
  GET  /login  POST /login  POST /ui/logout   signing in and out (auth.py)
  GET  /ui/plugins                         POST /ui/plugins/{id}/enable|disable|restart|remove
  GET  /ui/models                          POST /ui/models/{filename}/pull
  GET  /ui/installs                        POST /ui/installs/inspect, /ui/installs, /ui/installs/{job}/cancel|retry
  GET  /ui/logs?source=&q=                 GET /ui/logs/stream?source= (Server-Sent Events)
  GET  /ui/metrics?plugin=&range=
  GET  /ui/suggestions                     POST /ui/suggestions/{id}/apply|reject|revert
  GET  /ui/static/{path}                   dashboard.css, dashboard.js, login.js
"""

from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..context import RouterContext
from . import actions, auth, installs, logs, metrics_page, pages, suggestions
from .core import Dashboard

__all__ = ["dashboard_routes"]

Handler = Callable[[Dashboard, Request], Awaitable[Response]]
STATIC = Path(__file__).with_name("static")


def _bind(dash: Dashboard, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(dash, request)

    endpoint.__name__ = handler.__name__
    return endpoint


def dashboard_routes(ctx: RouterContext) -> list[BaseRoute]:
    dash = Dashboard(ctx)

    def get(path: str, handler: Handler) -> Route:
        return Route(path, _bind(dash, handler), methods=["GET"])

    def post(path: str, handler: Handler) -> Route:
        return Route(path, _bind(dash, handler), methods=["POST"])

    return [
        get("/", pages.overview_page),
        get("/login", auth.login_page),
        post("/login", auth.login_post),
        post("/ui/logout", auth.logout),
        get("/ui/plugins", pages.plugins_page),
        post("/ui/plugins/{plugin_id}/{action:str}", _plugin_action),
        get("/ui/models", pages.models_page),
        post("/ui/models/{filename}/pull", actions.pull),
        get("/ui/installs", installs.installs_page),
        post("/ui/installs/inspect", installs.inspect_package),
        post("/ui/installs", installs.start_install),
        post("/ui/installs/{job_id}/cancel", installs.cancel_job),
        post("/ui/installs/{job_id}/retry", installs.retry_job),
        get("/ui/logs", logs.logs_page),
        get("/ui/logs/stream", logs.logs_stream),
        get("/ui/metrics", metrics_page.metrics_page),
        get("/ui/suggestions", suggestions.suggestions_page),
        post("/ui/suggestions/{suggestion_id}/{action:str}", suggestions.suggestion_action),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]


async def _plugin_action(dash: Dashboard, request: Request) -> Response:
    action = request.path_params["action"]
    if action in ("enable", "disable"):
        return await actions.set_plugin_enabled(dash, request)
    if action == "restart":
        return await actions.restart(dash, request)
    if action == "remove":
        return await actions.remove_plugin(dash, request)
    return Response("unknown action", status_code=404, media_type="text/plain")
