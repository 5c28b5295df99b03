"""The web dashboard on the API port: server-rendered pages (Jinja2) over the daemon's status, install jobs, logs,
metrics and suggestions, with a little hand-written JavaScript for live updates from ``/api/events``.

Signing in exchanges the admin token, once, for a session cookie (auth.py, guard/session.py); every action is the
library call the CLI makes (actions.py, installs.py). Templates and static files are package data beside this file.
"""

from __future__ import annotations

from .core import Dashboard
from .routes import dashboard_routes

__all__ = sorted(["Dashboard", "dashboard_routes"])
