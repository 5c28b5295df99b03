"""The metrics routes (admin token, like every ``/api/*`` route):

  GET /api/metrics                    {plugins: [ids with history], span: [oldest, newest minute] | null}
  GET /api/metrics/{id}?since=&until=&step=
                                      the plugin's history: {plugin, since, until, step, points: [...], summary};
                                      ``since`` a duration back from now (default ``1h``) or an ISO-8601 time,
                                      ``until`` likewise (default now), ``step`` a duration (default ``1m``, whole
                                      minutes). Each point is ``store.rollup.Rollup.summary()`` of one step that
                                      holds data (steps without data are left out). 404 for a plugin with neither a
                                      route nor history, 400 for a bad parameter.
  GET /api/top                        live counters of every local plugin (``WorkerManager.telemetry()``, CPU and
                                      memory read now): cumulative, so a client diffs two answers for rates
                                      (``aiplugs.client.top``); ``clock`` is the daemon's monotonic clock.

The history lives in ``<state_dir>/metrics.sqlite`` (``store.metrics_history``), written by the daemon's collector.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import did_you_mean
from ...store.metrics_history import MetricsHistory, history_path, history_report
from ...util.histogram import LATENCY_BOUNDS
from ...util.timespec import parse_duration, parse_since
from .context import RouterContext
from .plugins import error_response

__all__ = ["stats_routes"]

DEFAULT_SINCE = "1h"


def _history(ctx: RouterContext) -> MetricsHistory:
    return MetricsHistory(history_path(ctx.workers.state_dir))


async def plugins_with_history(request: Request) -> Response:
    ctx: RouterContext = request.app.state.ctx
    history = _history(ctx)
    names, span = await asyncio.to_thread(lambda: (history.plugins(), history.span()))
    return JSONResponse({"plugins": names, "span": list(span) if span else None})


async def plugin_history(request: Request) -> Response:
    ctx: RouterContext = request.app.state.ctx
    plugin_id = request.path_params["plugin_id"]
    query = request.query_params
    now = time.time()
    try:
        since = parse_since(query.get("since", DEFAULT_SINCE), now)
        until = parse_since(query["until"], now) if query.get("until") else now
        step = parse_duration(query.get("step", "60"))
    except ValueError as e:
        return error_response(400, "bad_request", str(e))
    history = _history(ctx)

    def read() -> dict[str, Any] | None:
        if ctx.route(plugin_id) is None and plugin_id not in history.plugins():
            return None
        return history_report(history, plugin_id, since, until, int(step))

    report = await asyncio.to_thread(read)
    if report is None:
        known = set(ctx.routes) | set(await asyncio.to_thread(history.plugins))
        return error_response(404, "not_found", f"no metrics for plugin {plugin_id!r}"
                              f"{did_you_mean(plugin_id, known)}")
    return JSONResponse(report)


async def top(request: Request) -> Response:
    ctx: RouterContext = request.app.state.ctx
    await ctx.workers.sample_usage()
    seen = ctx.workers.telemetry()
    plugins = [pool.to_dict() for _, pool in sorted(seen.items())]
    idle = sorted(pid for pid, route in ctx.routes.items() if route.relay is None and pid not in seen)
    plugins += [{"id": pid, "ready": 0, "workers": []} for pid in idle]  # lazy, not started yet
    return JSONResponse({"time": time.time(), "clock": time.monotonic(), "bounds": list(LATENCY_BOUNDS),
                         "plugins": sorted(plugins, key=lambda p: p["id"])})


def stats_routes() -> list[Route]:
    return [
        Route("/api/metrics", plugins_with_history, methods=["GET"]),
        Route("/api/metrics/{plugin_id}", plugin_history, methods=["GET"]),
        Route("/api/top", top, methods=["GET"]),
    ]
