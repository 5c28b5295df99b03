"""The install-job routes (admin token, like every ``/api/*`` route): the daemon installs plugin packages in the
background and these start, show, cancel and retry its jobs.

  POST /api/installs                 {uri, id?, sha256?, force?} → 202 {job_id, job}
  GET  /api/installs                 {jobs: [...]}, newest first
  GET  /api/installs/{job_id}        the job: state, bytes/total, error, note, timestamps, plugin_id/version/sha256
  POST /api/installs/{job_id}/cancel the job, cancelled (409 once it edited aiplugs.toml or ended)
  POST /api/installs/{job_id}/retry  202 {job_id, job}: a new job with ``retry_of`` (409 unless failed/cancelled)

An error the controller raises carries its HTTP status (``status``: 404 unknown job, 409 wrong state); other
AiplugsErrors (a bad body) are 400.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import AiplugsError
from ...util.redact import redact
from .context import RouterContext
from .plugins import error_response

__all__ = ["install_routes"]

Call = Callable[[Any, Request], Awaitable[Any]]  # (the controller, the request) → the answer's JSON


def _endpoint(call: Call, status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ctx: RouterContext = request.app.state.ctx
        if ctx.control is None:
            return error_response(503, "unavailable", "no control endpoint: this router runs without a daemon")
        try:
            result = await call(ctx.control, request)
        except AiplugsError as e:
            code = getattr(e, "status", 400)
            return error_response(code if isinstance(code, int) else 400, type(e).__name__,
                                  redact(str(e), ctx.secrets()))
        except ValueError as e:  # the body is not a JSON object
            return error_response(400, "bad_request", str(e))
        return JSONResponse(redact(result, ctx.secrets()), status_code=status)

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError as e:
        raise ValueError(f"request body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError('request body must be a JSON object: {"uri": "<package URL or path>", ...}')
    return data


async def _start(control: Any, request: Request) -> Any:
    return await control.start_install(await _body(request))


def install_routes() -> list[Route]:
    job = "/api/installs/{job_id}"
    return [
        Route("/api/installs", _endpoint(_start, 202), methods=["POST"]),
        Route("/api/installs", _endpoint(lambda c, r: c.install_jobs()), methods=["GET"]),
        Route(job, _endpoint(lambda c, r: c.install_job(r.path_params["job_id"])), methods=["GET"]),
        Route(f"{job}/cancel", _endpoint(lambda c, r: c.cancel_install(r.path_params["job_id"])), methods=["POST"]),
        Route(f"{job}/retry", _endpoint(lambda c, r: c.retry_install(r.path_params["job_id"]), 202),
              methods=["POST"]),
    ]
