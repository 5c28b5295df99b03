"""The router: a Starlette app on uvicorn, embedded in the daemon's loop, serving the API, plugin calls (local
workers or the cloud relay), plugin assets, SSE events and WebSockets. Imported only by the daemon."""

from __future__ import annotations

from .app import create_app
from .context import Controller, RouterContext
from .guard import check_host, origin_allowed, route_class
from .metrics import Metrics
from .relay import Relay
from .server import RouterServer
from .ws import ConnectionManager

__all__ = sorted([
    "ConnectionManager",
    "Controller",
    "Metrics",
    "Relay",
    "RouterContext",
    "RouterServer",
    "check_host",
    "create_app",
    "origin_allowed",
    "route_class",
])
