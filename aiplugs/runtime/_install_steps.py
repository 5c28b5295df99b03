"""The steps of one install job, as ``aiplugs plugins install --yes`` takes them: fetch the package, verify it,
read its manifest, decide, edit ``aiplugs.toml``, apply, and check that the plugin really runs.

The decisions are pure functions of plain values (:func:`decide`, :func:`readiness_problem`); the rest does one
thing each. The package is fetched through the daemon's own package store, so the install that ``apply`` does
afterwards finds the archive verified in place and does not download it again.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from ..adapters.packages import Fetched, PackageError, PackageMismatch, read_manifest
from ..declaration.edit import ConfigEdit
from ..declaration.lockfile import lock_path, read_lock
from ..declaration.manifest import PLUGIN_ID
from ..declaration.packages import find_installed, resolve_source
from ..errors import AiplugsError, ConfigError
from ..plan import DesiredState, PluginState, load_desired_state
from ..store.installjobs import InstallJob
from ..util.atomic import atomic_write_text
from ..util.redact import redact_url
from .converge import ConvergeResult

__all__ = ["Current", "Edited", "InstallFailed", "SCRATCH", "activate", "clear_scratch", "current_package", "declare", "decide",
           "fetch", "identify", "keep_as", "readiness_problem", "stop_fetching", "take_back"]

SCRATCH = "_install"  # the download's name while the plugin id is unknown (no plugin id starts with "_")
Decision = Literal["install", "already", "refuse"]


class InstallFailed(AiplugsError):
    """A step refused or failed; the message is the job's error."""


@dataclass(frozen=True)
class Current:
    """What aiplugs.toml (or aiplugs.lock, when the table pins nothing) declares for a sourced plugin now."""

    sha256: str | None
    version: str | None  # of the installed package with that sha256, when known


# ---- deciding ---------------------------------------------------------------------------------------------------

def decide(current: Current | None, sha256: str, version: str, force: bool) -> tuple[Decision, str | None]:
    """Install, or not: the same content declared is "already installed" (a success that edits nothing); the same
    version with other content is refused unless ``force`` (a version number should name one content)."""
    if current is None or current.sha256 is None:
        return "install", None
    if current.sha256 == sha256:
        return "already", "already installed: aiplugs.toml declares this sha256"
    if current.version == version and not force:
        return "refuse", (f"version {version} is installed with sha256 {current.sha256}, and this package has the "
                          f"same version with other content (sha256 {sha256}); pass force to replace it")
    return "install", None


def readiness_problem(plugin_id: str, desired: DesiredState, result: ConvergeResult, status: dict[str, Any],
                      routed: bool) -> str | None:
    """Why ``plugin_id`` is not serving after the apply, or None: its units failed, it is not ready, or the router
    has no route for it. A package that is in place but whose plugin does not start is not installed."""
    models = {f"model {m.filename}" for m in desired.models if plugin_id in m.used_by}
    mine = [f for f in result.failures
            if f.unit in {f"package {plugin_id}", f"route {plugin_id}"} | models
            or f.unit.startswith(f"worker {plugin_id}#")]
    if mine:
        return "; ".join(f"{f.unit}: {f.error}" for f in mine)
    row = next((p for p in status.get("plugins", ()) if p.get("id") == plugin_id), None)
    if row is None:
        return f"{plugin_id} is not in the applied declaration"
    state = row.get("state")
    if state == PluginState.DISABLED.value:
        return f"{plugin_id} is installed but disabled (enabled = false in [plugins.{plugin_id}])"
    if state not in (PluginState.READY.value, PluginState.IDLE.value, PluginState.STOPPED.value):
        detail = row.get("last_error") or "; ".join(row.get("stderr_tail") or ()) or "no error recorded"
        return f"{plugin_id} is {state} after the apply: {detail}"
    if not routed:
        return f"{plugin_id} has no route in the router after the apply"
    return None


# ---- doing ------------------------------------------------------------------------------------------------------

async def fetch(packages: Any, job: InstallJob, config_dir: Path,
                on_bytes: Callable[[int, int | None], None]) -> Fetched:
    """The package, verified against the sha256 asked for (or hashed as it is), under its plugin's name when known."""
    source = resolve_source(job.uri, config_dir)
    try:
        return await packages.fetch(job.requested_id or SCRATCH, source, job.expected_sha256, on_bytes=on_bytes)
    except PackageMismatch as e:
        raise InstallFailed(f"sha256 mismatch: {redact_url(job.uri)} holds sha256 {e.actual}, expected "
                            f"{e.expected}; nothing was installed") from None
    except PackageError as e:
        raise InstallFailed(str(e).replace(f"{SCRATCH}: package ", "package ", 1)) from None


def identify(archive: Path, requested_id: str | None) -> tuple[str, str]:
    """The plugin id and version the package's manifest declares (the id must be the one asked for)."""
    try:
        manifest = read_manifest(archive)
    except PackageError as e:
        raise InstallFailed(str(e)) from None
    plugin_id, version = manifest.get("id"), manifest.get("version")
    if not isinstance(plugin_id, str) or not re.match(PLUGIN_ID, plugin_id):
        raise InstallFailed(f"the package's manifest.json has no valid plugin id (got {plugin_id!r})")
    if not isinstance(version, str) or not version:
        raise InstallFailed(f"the package's manifest.json has no version (got {version!r})")
    if requested_id is not None and plugin_id != requested_id:
        raise InstallFailed(f"the package holds plugin {plugin_id!r}, not {requested_id!r} as asked; nothing was "
                            "installed")
    return plugin_id, version


async def keep_as(packages: Any, plugin_id: str, fetched: Fetched) -> None:
    """Moves a package fetched under the scratch name to its plugin's name, where apply's install looks: a local,
    verified copy (through the same store, so it is recorded as verified), then the scratch file goes."""
    if fetched.path.name.startswith(f"{SCRATCH}."):
        if fetched.path.suffix != ".zip":  # .pkg: a download; .zip: a folder packed, which apply packs again
            await packages.fetch(plugin_id, str(fetched.path), fetched.sha256)
        await asyncio.to_thread(fetched.path.unlink, missing_ok=True)


def current_package(config_path: Path, state_dir: Path, plugin_id: str) -> Current | None:
    table = ConfigEdit.load(config_path).get(("plugins", plugin_id))
    if not isinstance(table, dict) or not table.get("source"):
        return None
    sha = table.get("sha256")
    try:
        locked = read_lock(lock_path(config_path)).plugins.get(plugin_id)
    except ConfigError:
        locked = None
    sha = (sha or (locked.sha256 if locked is not None else None) or "").lower() or None
    if sha is None:
        return Current(None, None)
    installed = find_installed(state_dir, plugin_id, sha)
    version = installed.version if installed is not None else (
        locked.version if locked is not None and locked.sha256 == sha else None)
    return Current(sha, version)


@dataclass(frozen=True)
class Edited:
    """The text of aiplugs.toml before and after a job's edit, and of aiplugs.lock before (None: there was none)."""

    before: str
    after: str
    lock_before: str | None


def declare(config_path: Path, plugin_id: str, uri: str, sha256: str) -> Edited:
    """``[plugins.<id>]`` gets ``source`` and ``sha256``; its other keys and every comment stay."""
    try:
        lock_before: str | None = lock_path(config_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        lock_before = None
    edit = ConfigEdit.load(config_path)
    before = edit.original
    edit.set(("plugins", plugin_id, "source"), uri)
    edit.set(("plugins", plugin_id, "sha256"), sha256)
    edit.save()
    return Edited(before, edit.original, lock_before)


def take_back(config_path: Path, edited: Edited) -> bool:
    """Restores aiplugs.toml and aiplugs.lock as they were before the edit (the apply pinned the new package in
    the lock), unless someone changed aiplugs.toml since: their change is kept."""
    edit = ConfigEdit.load(config_path)
    if edit.original != edited.after:
        return False
    edit.replace_text(edited.before)
    edit.save()
    lock = lock_path(config_path)
    if edited.lock_before is None:
        lock.unlink(missing_ok=True)
    else:
        atomic_write_text(lock, edited.lock_before)
    return True


async def activate(host: Any, plugin_id: str, edited: Edited | None) -> None:
    """The daemon's apply with its current environment, then the check that the plugin serves. When it does not,
    a job that edited aiplugs.toml takes the edit back and applies again: a failed install changes nothing (a
    replaced version comes back, as the package store keeps the previous one)."""
    config, env = host.desired.config_path, dict(host.env)
    try:
        _, desired = await asyncio.to_thread(load_desired_state, config, env=env)
    except ConfigError as e:
        restored = edited is not None and await asyncio.to_thread(take_back, config, edited)
        raise InstallFailed(f"aiplugs.toml does not load with [plugins.{plugin_id}] "
                            f"({'the edit was taken back' if restored else 'it is left as it is'}): {e}")
    result = await host.apply_desired(desired, reload=lambda: load_desired_state(config, env=env)[1])
    status = await host.status()
    problem = readiness_problem(plugin_id, host.desired, result, status, plugin_id in host.system.routes)
    if problem is None:
        return
    if edited is None:
        raise InstallFailed(problem)
    if not await asyncio.to_thread(take_back, config, edited):
        raise InstallFailed(f"{problem} (aiplugs.toml changed meanwhile, so it still declares [plugins.{plugin_id}])")
    try:
        _, previous = await asyncio.to_thread(load_desired_state, config, env=env)
        again = await host.apply_desired(previous, reload=lambda: load_desired_state(config, env=env)[1])
        outcome = "applied again" if again.ok else f"applied again, with failures: {again.failures[0].error}"
    except AiplugsError as e:
        outcome = f"not applied again: {e}"
    raise InstallFailed(f"{problem} (aiplugs.toml was restored and {outcome})")


async def stop_fetching(packages: Any, names: set[str]) -> None:
    """Stops the downloads of these package names and waits until their temp files are gone.

    The model store shares one download task between its waiters and shields it, so cancelling the job does not
    stop it: its task (named ``model <file>``) is cancelled here, and its own clean-up removes the ``.part``."""
    files = {f"model {name}.pkg" for name in names}
    tasks = [t for t in asyncio.all_tasks() if t.get_name() in files and not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    await asyncio.to_thread(clear_scratch, packages)


def clear_scratch(packages: Any) -> None:
    """A finished download under the scratch name (the store removes its own temp files)."""
    for leftover in packages.downloads.glob(f"{SCRATCH}.*"):
        if not leftover.name.endswith(".part"):
            leftover.unlink(missing_ok=True)
