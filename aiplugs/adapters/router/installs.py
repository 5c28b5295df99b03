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

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from .admin_api import json_object, served_by

__all__ = ["install_routes"]

NO_DAEMON = "no control endpoint: this router runs without a daemon"


def _endpoint(call: Any, status: int = 200) -> Any:
    return served_by(lambda ctx: ctx.control, NO_DAEMON, call, status)


async def _start(control: Any, request: Request) -> Any:
    return await control.start_install(await json_object(
        request, '{"uri": "<package URL or path>", ...}', empty_is_object=False))


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
