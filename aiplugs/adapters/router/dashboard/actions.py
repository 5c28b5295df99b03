"""The dashboard's actions on plugins and models, each the same library call the CLI makes:

  enable / disable   ``declaration.plugins.set_enabled`` on a ``ConfigEdit`` of aiplugs.toml (comments kept), the
                     edit validated (restored byte for byte when it does not load), then the daemon's apply
  remove             ``declaration.plugins.undeclare`` the same way (packages only, as ``plugins remove``)
  restart / pull     the daemon's ``restart`` / ``pull_models``, as ``aiplugs restart`` and ``models pull``

The decisions (may this change be made, what is the edit) are plain functions of the declaration; the handlers
only run them off the event loop, apply, and say how it went on the page they redirect to. Applying uses the
environment of the daemon's last apply, as its install jobs do, so an override set when the daemon was applied
stays in force.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from ....declaration.config import load_config
from ....declaration.edit import ConfigEdit
from ....declaration.plugins import dependents, set_enabled, undeclare
from ....errors import AiplugsError, ConfigError, did_you_mean
from ....plan import load_desired_state
from ....util.redact import redact_url
from .core import Dashboard
from .forms import local_path, redirect

__all__ = ["enabled_edit", "plugin_action", "pull", "removal_edit", "restart", "set_plugin_enabled", "remove_plugin"]


def enabled_edit(path: Path, env: Mapping[str, str], plugin_id: str, enabled: bool) -> ConfigEdit | None:
    """The edit of aiplugs.toml that enables or disables ``plugin_id``; None when it already is. Refused (an
    AiplugsError that says why) as ``aiplugs plugins enable/disable`` refuses."""
    config, desired = load_desired_state(path, env=env)
    active = {p.id: p.dependencies for p in desired.plugins}
    known = set(active) | set(desired.disabled)
    if plugin_id not in known:
        raise AiplugsError(f"no plugin {plugin_id!r}" + did_you_mean(plugin_id, known))
    origin = config.origin(f"plugins.{plugin_id}.enabled")
    if origin.startswith("env "):
        raise AiplugsError(f"{plugin_id}: enabled is set by the environment ({origin[4:]}), which overrides "
                           f"{path.name}; change or unset that variable instead. Nothing was changed.")
    if (plugin_id in active) == enabled:
        return None
    users = dependents(plugin_id, active) if not enabled else []
    if users:
        raise AiplugsError(f"cannot disable {plugin_id}: the enabled plugin(s) {', '.join(users)} depend on it. "
                           "Disable them first. Nothing was changed.")
    edit = ConfigEdit.load(path)
    set_enabled(edit, plugin_id, enabled)
    return edit


def removal_edit(path: Path, env: Mapping[str, str], plugin_id: str) -> ConfigEdit:
    """The edit that takes an installed package's ``[plugins.<id>]`` table out; refused for plugin folders and
    for a plugin others depend on."""
    config, desired = load_desired_state(path, env=env)
    table = config.settings.plugins.get(plugin_id)
    if table is None or table.source is None:
        raise AiplugsError(f"{plugin_id} is not installed from a package; only packages are removed here (a plugin "
                           "folder stays a plugin: disable it instead). Nothing was changed.")
    users = dependents(plugin_id, {p.id: p.dependencies for p in desired.plugins})
    if users:
        raise AiplugsError(f"cannot remove {plugin_id}: the enabled plugin(s) {', '.join(users)} depend on it. "
                           "Nothing was changed.")
    edit = ConfigEdit.load(path)
    undeclare(edit, plugin_id)
    return edit


def save_checked(edit: ConfigEdit, env: Mapping[str, str]) -> None:
    """Writes the edit; when the declaration does not load with it, the file is restored and the error raised."""
    before = edit.original
    edit.save()
    try:
        load_desired_state(edit.path, env=env)
    except ConfigError:
        edit.replace_text(before)
        edit.save()
        raise


MakeEdit = Callable[[Path, Mapping[str, str]], "ConfigEdit | None"]  # (aiplugs.toml, env) → the edit, or None


async def _edit_and_apply(dash: Dashboard, make: MakeEdit, done: str, already: str = "") -> str:
    """Runs ``make(path, env)`` → an edit (None: nothing to do, ``already`` says so), saves it and applies; the
    sentence to show."""
    control = dash.control
    path, env = await dash.config_path(), dict(control.env)
    edit = await asyncio.to_thread(make, path, env)
    if edit is None:
        return f"{already or done}. Nothing to do."
    await asyncio.to_thread(save_checked, edit, env)
    result = await control.apply({"config": str(path), "env": env})
    failures = [f"{f['unit']}: {f['error']}" for f in result.get("failures") or ()]
    if failures:
        raise AiplugsError(f"{done} in {path.name}, but the apply failed: " + "; ".join(failures))
    return f"{done}: {path.name} edited and applied."


def _back(request: Request, default: str) -> str:
    """Where the form came from (a path of ours), for the redirect."""
    target = request.query_params.get("back", default)
    return target if local_path(target) else default


async def set_plugin_enabled(dash: Dashboard, request: Request) -> Response:
    pid, enabled = request.path_params["plugin_id"], request.path_params["action"] == "enable"
    word = "Enabled" if enabled else "Disabled"
    try:
        text = await _edit_and_apply(dash, lambda path, env: enabled_edit(path, env, pid, enabled), f"{word} {pid}",
                                     f"{pid} is {word.lower()} already")
    except AiplugsError as e:
        return redirect(dash.flash, _back(request, "/ui/plugins"), "error", str(e))
    return redirect(dash.flash, _back(request, "/ui/plugins"), "ok", text)


async def remove_plugin(dash: Dashboard, request: Request) -> Response:
    pid = request.path_params["plugin_id"]
    try:
        text = await _edit_and_apply(dash, lambda path, env: removal_edit(path, env, pid), f"Removed {pid}")
    except AiplugsError as e:
        return redirect(dash.flash, _back(request, "/ui/installs"), "error", str(e))
    return redirect(dash.flash, _back(request, "/ui/installs"), "ok",
                    text + " Its models stay in the model store.")


async def restart(dash: Dashboard, request: Request) -> Response:
    pid = request.path_params["plugin_id"]
    try:
        await dash.control.restart(pid)
    except AiplugsError as e:
        return redirect(dash.flash, "/ui/plugins", "error", str(e))
    return redirect(dash.flash, "/ui/plugins", "ok", f"Restarted {pid}.")


async def pull(dash: Dashboard, request: Request) -> Response:
    filename = request.path_params["filename"]
    try:
        await dash.control.pull_models([filename])
    except AiplugsError as e:
        return redirect(dash.flash, "/ui/models", "error", str(e))
    return redirect(dash.flash, "/ui/models", "ok", f"{filename} is in the model store.")


async def plugin_action(dash: Dashboard, request: Request) -> Response:
    """``POST /ui/plugins/{id}/{action}``: enable, disable, restart or remove."""
    action = request.path_params["action"]
    if action in ("enable", "disable"):
        return await set_plugin_enabled(dash, request)
    if action == "restart":
        return await restart(dash, request)
    if action == "remove":
        return await remove_plugin(dash, request)
    return Response("unknown action", status_code=404, media_type="text/plain")


def installed_packages(path: Path, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every plugin aiplugs.toml declares with a ``source`` (enabled or not), for the Installs page."""
    config = load_config(path, env=env)
    return [{"id": pid, "source": redact_url(table.source), "sha256": table.sha256, "enabled": table.enabled}
            for pid, table in sorted(config.settings.plugins.items()) if table.source is not None]
