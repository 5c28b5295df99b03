"""The read-only pages over the daemon's status report: Overview, Plugins and Models. Each renders complete on the
server (readable without JavaScript); the page script refreshes it when ``/api/events`` says something changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .core import Dashboard
from .views import model_rows, overview, plugin_rows

__all__ = ["models_page", "overview_page", "plugins_page"]


def _ca(path: str | None) -> tuple[str | None, str | None]:
    """(SHA-256 fingerprint, how to trust it) of the proxy's CA; (None, None) before the proxy made one."""
    if not path or not Path(path).is_file():
        return None, None
    from ...proxy.certs import fingerprint, trust_instructions

    try:
        return fingerprint(Path(path)), trust_instructions(Path(path))
    except (OSError, ValueError):
        return None, None


async def overview_page(dash: Dashboard, request: Request) -> Response:
    status = await dash.status()
    data: dict[str, Any] = {"title": "Overview", "live": "apply. proxy. router. plugin.state model.ready"}
    if status is not None:
        fingerprint, trust = await asyncio.to_thread(_ca, status.get("ca_cert"))
        last = dash.recorder.last_apply
        data["view"] = overview(status, last.to_dict() if last else None, fingerprint, trust)
    return dash.render(request, "overview.html", data)


async def plugins_page(dash: Dashboard, request: Request) -> Response:
    status = await dash.status()
    rows = plugin_rows(status, dash.ctx.routes) if status is not None else []
    return dash.render(request, "plugins.html", {"title": "Plugins", "live": "plugin. worker. route. apply.",
                                                 "plugins": rows})


async def models_page(dash: Dashboard, request: Request) -> Response:
    status = await dash.status()
    rows = model_rows(status, dash.recorder.download) if status is not None else []
    return dash.render(request, "models.html", {"title": "Models", "live": "model.ready model.failed "
                                                "model.downloading apply.", "models": rows})
