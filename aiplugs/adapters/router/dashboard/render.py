"""Rendering a dashboard page: Jinja2 templates (package data beside this module), autoescaped, with every value
passed through ``redact`` first and the headers that keep the page to itself.

The Content-Security-Policy allows scripts and styles from the dashboard's own static files only (no inline code),
so a plugin name or a log line that smuggles markup can neither run nor restyle the page even if escaping failed.
"""

from __future__ import annotations

import datetime
import functools
import time
from pathlib import Path
from typing import Any, Mapping

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ....util.redact import redact

__all__ = ["HEADERS", "PAGES", "environment", "page", "size", "when"]

TEMPLATES = Path(__file__).with_name("templates")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with a form's POST, and the guard
# refuses a state change whose Origin is not the dashboard's
HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
# (path, title) of every page, in the order of the navigation
PAGES = (("/", "Overview"), ("/ui/plugins", "Plugins"), ("/ui/models", "Models"), ("/ui/installs", "Installs"),
         ("/ui/logs", "Logs"), ("/ui/metrics", "Metrics"), ("/ui/suggestions", "Suggestions"))


def size(n: Any) -> str:
    """Bytes for people: ``1.5 MiB``; ``-`` when unknown."""
    if not isinstance(n, (int, float)):
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def when(ts: Any) -> str:
    """A unix time as local ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if not isinstance(ts, (int, float)) or ts <= 0:
        return "-"
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(size=size, when=when, duration=duration)
    return env


def page(request: Request, template: str, data: Mapping[str, Any], *, secrets: tuple[str, ...] = (),
         status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """``template`` rendered with ``data`` (secrets masked) plus what every page has: the navigation, the
    current path and a flash message."""
    shown = redact(dict(data), secrets)
    context = {**shown, "pages": PAGES, "path": request.url.path, "now": time.time()}
    html = environment().get_template(template).render(context)
    for secret in secrets:  # a last line of defence: anything built outside ``data``
        html = html.replace(secret, "**********")
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})
