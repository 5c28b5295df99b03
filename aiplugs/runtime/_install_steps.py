"""The steps of one install job, as ``aiplugs plugins install --yes`` takes them: fetch the package, verify it,
read its manifest, edit ``aiplugs.toml``, apply, and check that the plugin really runs (the decisions in between
are ``_install_decide``'s). Each function does one thing.

The package is fetched through the daemon's own package store, so the install that ``apply`` does afterwards finds
the archive verified in place and does not download it again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..adapters.packages import Fetched, Inspection, PackageError, PackageMismatch, inspect_archive
from ..declaration.edit import ConfigEdit
from ..declaration.lockfile import lock_path
from ..declaration.packages import resolve_source
from ..declaration.plugins import declare_package
from ..errors import AiplugsError, ConfigError
from ..plan import load_desired_state
from ..store.installjobs import InstallJob
from ..util.atomic import atomic_write_text
from ..util.redact import redact_url
from ._install_decide import readiness_problem

__all__ = ["Edited", "InstallFailed", "SCRATCH", "activate", "clear_scratch", "declare", "fetch", "identify",
           "keep_as", "stop_fetching", "take_back"]

SCRATCH = "_install"  # the download's name while the plugin id is unknown (no plugin id starts with "_")


class InstallFailed(AiplugsError):
    """A step refused or failed; the message is the job's error."""


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


def identify(archive: Path, uri: str, sha256: str, requested_id: str | None) -> Inspection:
    """What the package is (its manifest, read without unpacking): a valid plugin, the one asked for."""
    try:
        seen = inspect_archive(archive, source=uri, sha256=sha256)
    except PackageError as e:
        raise InstallFailed(str(e)) from None
    if seen.problems or not seen.plugin_id or not seen.version:
        problems = "; ".join(seen.problems) or "no id or version"
        raise InstallFailed(f"the package's manifest is not valid: {problems}. Nothing was changed.")
    if requested_id is not None and seen.plugin_id != requested_id:
        raise InstallFailed(f"the package holds plugin {seen.plugin_id!r}, not {requested_id!r} as asked (a package's "
                            "manifest id must equal its [plugins.<id>] table). Nothing was changed.")
    return seen


async def keep_as(packages: Any, plugin_id: str, fetched: Fetched) -> None:
    """Moves a package fetched under the scratch name to its plugin's name, where apply's install looks
    (``PackageStore.keep_as``)."""
    if fetched.path.name.startswith(f"{SCRATCH}."):
        await packages.keep_as(plugin_id, fetched)


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
    declare_package(edit, plugin_id, uri, sha256)
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
