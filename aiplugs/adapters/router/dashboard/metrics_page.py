"""The Metrics page: per plugin req/s, p50/p95 latency, errors, CPU and RSS over a chosen range, drawn as SVG on
the server (charts.py) from ``GET /api/metrics/{plugin}?since=&step=``, whose points are ``Rollup.summary()``
dicts. The endpoint is called in-process (subrequest.py): a daemon without it shows a page that says so.
"""

from __future__ import annotations

from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import Response

from .charts import Series, line_chart
from .core import Dashboard
from .subrequest import available, call, listed

__all__ = ["RANGES", "charts", "metrics_page", "summaries"]

RANGES = {"15m": 60, "1h": 60, "6h": 300, "24h": 1200, "7d": 10800}  # ?since= as the API takes it → step (s)
CHARTS = (  # (id, title, unit, ((summary key, label), ...))
    ("rps", "Requests per second", "/s", (("rps", "req/s"),)),
    ("latency", "Latency", "ms", (("p50_ms", "p50"), ("p95_ms", "p95"))),
    ("errors", "Errors", "", (("errors", "errors"),)),
    ("cpu", "CPU (100 % = one core)", "%", (("cpu_pct", "CPU"),)),
    ("rss", "Memory (RSS)", "bytes", (("rss_bytes", "RSS"),)),
)


def summaries(data: Any) -> list[dict[str, Any]]:
    """The series of a metrics answer, oldest first."""
    return sorted(listed(data, "points", "series"), key=lambda s: s.get("time") or 0)


def charts(points: list[Mapping[str, Any]], span: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """One chart per CHARTS entry over ``span`` (the range asked for: where there is no data, there is no line)."""
    out = []
    for chart_id, title, unit, keys in CHARTS:
        series = [Series(label, tuple((float(p.get("time") or 0), _number(p.get(key))) for p in points))
                  for key, label in keys]
        out.append({"id": chart_id, "title": title, "labels": [label for _, label in keys],
                    "svg": line_chart(f"chart-{chart_id}", title, unit, series, span=span)})
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


async def metrics_page(dash: Dashboard, request: Request) -> Response:
    status = await dash.status()
    plugins = [p["id"] for p in status["plugins"] if p.get("mode") == "local"] if status is not None else \
        sorted(pid for pid, route in dash.ctx.routes.items() if route.relay is None)
    chosen = request.query_params.get("plugin") or (plugins[0] if plugins else "")
    period = request.query_params.get("range", "1h")
    period = period if period in RANGES else "1h"
    data: dict[str, Any] = {"title": "Metrics", "plugins": plugins, "plugin": chosen, "range": period,
                            "ranges": list(RANGES), "available": available(request, "GET", "/api/metrics/x")}
    if chosen and chosen not in plugins:
        data["problem"] = f"no local plugin {chosen!r} runs here"
    elif data["available"] and chosen:
        answer = await call(request, "GET", f"/api/metrics/{chosen}", {"since": period, "step": RANGES[period]})
        if answer.ok:
            points = summaries(answer.data)
            body = answer.data if isinstance(answer.data, dict) else {}
            start, end = _number(body.get("since")), _number(body.get("until"))
            data.update(points=points, charts=charts(points, (start, end) if start and end else None))
        else:
            data["problem"] = answer.error()
    return dash.render(request, "metrics.html", data)
