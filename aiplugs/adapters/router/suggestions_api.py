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
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .admin_api import json_object, served_by

__all__ = ["suggestion_routes"]


def _endpoint(call: Any) -> Any:
    return served_by(lambda ctx: getattr(ctx.control, "autotune", None),
                     "no autotuner: suggestions need a running daemon", call)


async def _evaluate(tuner: Any, request: Request) -> Any:
    await tuner.evaluate()
    return await _listing(tuner)


async def _apply(tuner: Any, request: Request) -> Any:
    expect = (await json_object(request, '{"config_sha256": "..."} or {}')).get("config_sha256")
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
