"""The Installs page: install a plugin package from a URI the way ``aiplugs plugins install --detach`` does.

First the package is inspected (``adapters.packages.inspect_kept``: fetched into the project's package store, its
manifest read, nothing run) and the same permission summary the CLI prints is shown; only then can a person start
the install, which is the daemon's install job for exactly the sha256 they saw. That job finds the inspected
download kept as the plugin's, verified, and does not fetch the package again. Jobs move live on the page through
``install.state`` / ``install.progress`` events; cancel and retry are the jobs' own; remove takes an installed
package's table out of aiplugs.toml and applies (actions.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ....declaration.packages import resolve_source
from ....errors import AiplugsError
from ...packages import PackageError, PackageStore, inspect_kept
from .actions import installed_packages
from .core import Dashboard
from .forms import form, redirect

__all__ = ["cancel_job", "inspect_package", "installs_page", "retry_job", "start_install"]

LIVE = "install. package."


async def _listing(dash: Dashboard) -> dict[str, Any]:
    """The jobs (newest first) and the installed packages; what is not known without a daemon stays empty."""
    if dash.ctx.control is None:
        return {"jobs": [], "packages": []}
    jobs = (await dash.control.install_jobs()).get("jobs", [])
    try:
        packages = await asyncio.to_thread(installed_packages, await dash.config_path(), dict(dash.control.env))
    except AiplugsError:  # a broken aiplugs.toml: the jobs still show
        packages = []
    return {"jobs": jobs, "packages": packages}


async def installs_page(dash: Dashboard, request: Request) -> Response:
    data = {"title": "Installs", "live": LIVE, "form": {}, **await _listing(dash)}
    return dash.render(request, "installs.html", data)


def _request_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The install request as the job API takes it: uri, and id / sha256 only when given."""
    body: dict[str, Any] = {"uri": fields.get("uri", "").strip()}
    for name in ("id", "sha256"):
        value = fields.get(name, "").strip()
        if value:
            body[name] = value.lower() if name == "sha256" else value
    return body


async def inspect_package(dash: Dashboard, request: Request) -> Response:
    """``POST /ui/installs/inspect``: the permission summary, with the button that starts the install."""
    fields = _request_fields(await form(request))
    data: dict[str, Any] = {"title": "Installs", "live": LIVE, "refresh": "/ui/installs", "form": fields,
                            **await _listing(dash)}
    if not fields["uri"]:
        data["problem"] = "Give the package's URL or path."
        return dash.render(request, "installs.html", data, status=400)
    try:
        source = resolve_source(fields["uri"], (await dash.config_path()).parent)
        seen = await inspect_kept(PackageStore(dash.ctx.workers.state_dir), source, sha256=fields.get("sha256"))
    except (PackageError, AiplugsError, OSError) as e:
        data["problem"] = f"Cannot inspect {fields['uri']}: {e}"
        return dash.render(request, "installs.html", data, status=400)
    problems = list(seen.problems)
    if fields.get("id") and seen.plugin_id and fields["id"] != seen.plugin_id:
        problems.append(f"the package holds plugin {seen.plugin_id!r}, not {fields['id']!r} as asked")
    data["inspection"] = {"summary": seen.to_text(), "permissions": seen.permissions(), "id": seen.plugin_id,
                          "version": seen.version, "name": seen.name, "sha256": seen.sha256, "problems": problems,
                          "decrypts_all": seen.decrypts_all}
    return dash.render(request, "installs.html", data)


async def start_install(dash: Dashboard, request: Request) -> Response:
    """``POST /ui/installs``: the daemon's install job for the sha256 the person saw."""
    fields = await form(request)
    body = _request_fields(fields)
    if fields.get("force") == "1":
        body["force"] = True
    try:
        answer = await dash.control.start_install(body)
    except AiplugsError as e:
        return redirect(dash.flash, "/ui/installs", "error", str(e))
    job = answer.get("job_id", "?")
    return redirect(dash.flash, f"/ui/installs#job-{job}", "ok", f"Install job {job} queued.")


async def cancel_job(dash: Dashboard, request: Request) -> Response:
    job = request.path_params["job_id"]
    try:
        await dash.control.cancel_install(job)
    except AiplugsError as e:
        return redirect(dash.flash, "/ui/installs", "error", str(e))
    return redirect(dash.flash, f"/ui/installs#job-{job}", "ok", f"Install job {job} cancelled.")


async def retry_job(dash: Dashboard, request: Request) -> Response:
    job = request.path_params["job_id"]
    try:
        answer = await dash.control.retry_install(job)
    except AiplugsError as e:
        return redirect(dash.flash, "/ui/installs", "error", str(e))
    again = answer.get("job_id", "?")
    return redirect(dash.flash, f"/ui/installs#job-{again}", "ok", f"Install job {again} retries {job}.")
