"""The web dashboard on the API port: server-rendered pages (Jinja2) over the daemon's status, install jobs, logs,
metrics and suggestions, with a little hand-written JavaScript for live updates from ``/api/events``.

Nothing here but the route table is imported when the router starts: the handlers, the templates and Jinja2
load on the first dashboard request (routes.py).

Signing in exchanges the admin token, once, for a session cookie (auth.py, guard/session.py); every action is the
library call the CLI makes (actions.py, installs.py). Templates and static files are package data beside this file.
"""

from __future__ import annotations

from typing import Any

from .routes import dashboard_routes

__all__ = sorted(["Dashboard", "dashboard_routes"])


def __getattr__(name: str) -> Any:
    """``Dashboard`` (and Jinja2 with it) loads on first use: the routes build it on the first request."""
    if name == "Dashboard":
        from .core import Dashboard

        return Dashboard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
