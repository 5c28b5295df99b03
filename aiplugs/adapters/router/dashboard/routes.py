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

import importlib
from pathlib import Path
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..context import RouterContext
from .recorder import Recorder

__all__ = ["LazyDashboard", "dashboard_routes"]

STATIC = Path(__file__).with_name("static")

# (method, path, "module:handler" in this package). The handlers and the Dashboard behind them (Jinja2 and ~20
# modules, ~3 MB resident) load on the first request, not when the daemon starts: most daemons are never looked at.
ROUTES = (
    ("GET", "/", "pages:overview_page"),
    ("GET", "/login", "auth:login_page"),
    ("POST", "/login", "auth:login_post"),
    ("POST", "/ui/logout", "auth:logout"),
    ("GET", "/ui/plugins", "pages:plugins_page"),
    ("POST", "/ui/plugins/{plugin_id}/{action:str}", "actions:plugin_action"),
    ("GET", "/ui/models", "pages:models_page"),
    ("POST", "/ui/models/{filename}/pull", "actions:pull"),
    ("GET", "/ui/installs", "installs:installs_page"),
    ("POST", "/ui/installs/inspect", "installs:inspect_package"),
    ("POST", "/ui/installs", "installs:start_install"),
    ("POST", "/ui/installs/{job_id}/cancel", "installs:cancel_job"),
    ("POST", "/ui/installs/{job_id}/retry", "installs:retry_job"),
    ("GET", "/ui/logs", "logs:logs_page"),
    ("GET", "/ui/logs/stream", "logs:logs_stream"),
    ("GET", "/ui/metrics", "metrics_page:metrics_page"),
    ("GET", "/ui/suggestions", "suggestions:suggestions_page"),
    ("POST", "/ui/suggestions/{suggestion_id}/{action:str}", "suggestions:suggestion_action"),
)


class LazyDashboard:
    """The dashboard of one router, built on its first request. What it remembers of the event bus (the last
    apply, downloads in progress) is recorded from the start, so a first page shows the same as it always did."""

    def __init__(self, ctx: RouterContext) -> None:
        self.ctx = ctx
        self.recorder = Recorder().attach(ctx.events)
        self._dashboard: Any = None

    def get(self) -> Any:
        """The :class:`~.core.Dashboard`, created (and its modules imported) on first use."""
        if self._dashboard is None:
            from .core import Dashboard

            self._dashboard = Dashboard(self.ctx, recorder=self.recorder)
        return self._dashboard

    def endpoint(self, target: str) -> Callable[[Request], Awaitable[Response]]:
        module, name = target.split(":")
        handler: Callable[[Any, Request], Awaitable[Response]] | None = None

        async def endpoint(request: Request) -> Response:
            nonlocal handler
            if handler is None:
                handler = getattr(importlib.import_module(f"{__package__}.{module}"), name)
            return await handler(self.get(), request)

        endpoint.__name__ = name
        return endpoint


def dashboard_routes(ctx: RouterContext) -> list[BaseRoute]:
    lazy = LazyDashboard(ctx)
    return [
        *(Route(path, lazy.endpoint(target), methods=[method]) for method, path, target in ROUTES),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="dashboard-static"),
    ]
