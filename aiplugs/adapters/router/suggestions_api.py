"""The suggestion routes (admin token, like every ``/api/*`` route), served from the daemon's autotuner:

  GET  /api/suggestions                  {evaluated_at, config_sha256, suggestions: [... + diff], autoscaling}
  POST /api/suggestions/evaluate         run the rules now (instead of at the next interval); the listing
  GET  /api/suggestions/history          {history: [...]}, newest first: diff, hashes, metrics before/after, verdict
  GET  /api/suggestions/{id}             {suggestion} when it stands, else {history} (its newest entry)
  POST /api/suggestions/{id}/apply       {config_sha256?}: edit aiplugs.toml, apply; {entry, apply}
  POST /api/suggestions/{id}/reject      hidden for [autotune] reject_for_s
  POST /api/suggestions/{id}/revert      the opposite edit (by suggestion id or history number), apply

Errors carry their status: 404 unknown id, 409 not applicable now (the file changed, the value changed, nothing
to apply), 503 without a daemon.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import AiplugsError
from ...util.redact import redact
from .context import RouterContext
from .plugins import error_response

__all__ = ["suggestion_routes"]

Call = Callable[[Any, Request], Awaitable[Any]]  # (the autotuner, the request) → the answer's JSON


def _endpoint(call: Call) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx: RouterContext = request.app.state.ctx
        tuner = getattr(ctx.control, "autotune", None)
        if tuner is None:
            return error_response(503, "unavailable", "no autotuner: suggestions need a running daemon")
        try:
            result = await call(tuner, request)
        except AiplugsError as e:
            code = getattr(e, "status", 400)
            return error_response(code if isinstance(code, int) else 400, type(e).__name__,
                                  redact(str(e), ctx.secrets()))
        except ValueError as e:
            return error_response(400, "bad_request", str(e))
        return JSONResponse(redact(result, ctx.secrets()))

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        raise ValueError(f"request body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError('request body must be a JSON object: {"config_sha256": "..."} or {}')
    return data


async def _evaluate(tuner: Any, request: Request) -> Any:
    await tuner.evaluate()
    return await _listing(tuner)


async def _apply(tuner: Any, request: Request) -> Any:
    expect = (await _body(request)).get("config_sha256")
    if expect is not None and not isinstance(expect, str):
        raise ValueError('"config_sha256" must be a string')
    return await tuner.apply(request.path_params["id"], expect)


def suggestion_routes() -> list[Route]:
    one = "/api/suggestions/{id}"
    return [
        Route("/api/suggestions", _endpoint(lambda t, r: _listing(t)), methods=["GET"]),
        Route("/api/suggestions/evaluate", _endpoint(_evaluate), methods=["POST"]),
        Route("/api/suggestions/history", _endpoint(lambda t, r: _history(t)), methods=["GET"]),
        Route(one, _endpoint(lambda t, r: _show(t, r.path_params["id"])), methods=["GET"]),
        Route(f"{one}/apply", _endpoint(_apply), methods=["POST"]),
        Route(f"{one}/reject", _endpoint(lambda t, r: t.reject(r.path_params["id"])), methods=["POST"]),
        Route(f"{one}/revert", _endpoint(lambda t, r: t.revert(r.path_params["id"])), methods=["POST"]),
    ]


async def _listing(tuner: Any) -> Any:
    return await asyncio.to_thread(tuner.listing)  # reads aiplugs.toml for the diffs


async def _history(tuner: Any) -> Any:
    return await asyncio.to_thread(tuner.history_listing)


async def _show(tuner: Any, ref: str) -> Any:
    return await asyncio.to_thread(tuner.show, ref)
