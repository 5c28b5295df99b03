"""Installing and removing a plugin package as converge's doers, with the lock file kept in step.

After a package is in place its pins go to ``aiplugs.lock`` (source, version, sha256, size and the sha256 of each
model its manifest declares); removing a package removes its entry. A sha256 mismatch says who pinned what, and
how to accept a change made on purpose.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..adapters.packages import PackageError, PackageMismatch
from ..declaration.lockfile import LockedPlugin, lock_path, read_lock, with_plugin, without_plugin, write_lock
from ..declaration.manifest import load_manifest
from ..declaration.packages import InstalledPackage
from ..events.catalogue import PACKAGE_FETCHING, PACKAGE_INSTALLED, PACKAGE_PROGRESS, PACKAGE_REMOVED
from ..plan import PackageSpec
from ..util.redact import redact_url

__all__ = ["install", "mismatch_message", "remove"]


def mismatch_message(package: PackageSpec, error: PackageMismatch) -> str:
    pid, got, want = package.plugin_id, error.actual, error.expected
    head = f"{pid}: {error.source} now holds sha256 {got}"
    if package.pinned_by == "aiplugs.toml":
        return (f"{head}, but aiplugs.toml wants {want}. If the new content is expected, set sha256 = \"{got}\" "
                f"in [plugins.{pid}]; otherwise the source changed or was tampered with. Nothing was installed.")
    return (f"{head}, but aiplugs.lock pins {want} (from its first install). If the change upstream is expected, "
            f"accept it with `aiplugs plugins update {pid}` (or delete its entry from aiplugs.lock) and apply again; "
            "otherwise the source changed or was tampered with. Nothing was installed.")


async def install(system: Any, package: PackageSpec) -> None:
    events, pid = system.events, package.plugin_id
    events.publish(PACKAGE_FETCHING, plugin_id=pid, source=redact_url(package.source))

    def progress(done: int, total: int | None) -> None:
        events.publish(PACKAGE_PROGRESS, plugin_id=pid, bytes=done, total=total)

    try:
        installed = await system.packages.install(pid, package.source, package.sha256, on_bytes=progress)
    except PackageMismatch as e:
        raise PackageError(mismatch_message(package, e)) from None
    await asyncio.to_thread(_lock, system.config_path, installed, package.locked_source)
    events.publish(PACKAGE_INSTALLED, plugin_id=pid, version=installed.version, sha256=installed.sha256,
                   size=installed.size)


def _lock(config_path: Any, installed: InstalledPackage, source: str) -> None:
    """``source`` as aiplugs.toml declares it: a lock with a relative path works in every checkout."""
    path = lock_path(config_path)
    models = {m.filename: m.sha256 for m in load_manifest(installed.path, installed.plugin_id).manifest.inference.models}
    entry = LockedPlugin(source=source, version=installed.version, sha256=installed.sha256,
                         size=installed.size, models=models)
    lock = read_lock(path)
    if lock.plugins.get(installed.plugin_id) != entry:
        write_lock(path, with_plugin(lock, installed.plugin_id, entry))


async def remove(system: Any, plugin_id: str) -> None:
    await asyncio.to_thread(system.packages.remove, plugin_id)
    path = lock_path(system.config_path)
    lock = await asyncio.to_thread(read_lock, path)
    if plugin_id in lock.plugins:
        await asyncio.to_thread(write_lock, path, without_plugin(lock, plugin_id))
    system.events.publish(PACKAGE_REMOVED, plugin_id=plugin_id)
