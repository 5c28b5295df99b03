"""The package store: fetch a plugin package from its source, verify it, unpack it safely and publish it as
``<state_dir>/packages/<id>/<version>-<sha12>/`` in one rename — or take a plugin's packages away.

Fetching goes through the model store's machinery (fsspec for any URL, sha256 while streaming, a temp file in
the same folder, atomic publish, single-flight in-process and across processes), into
``<state_dir>/packages/.downloads/``. A plugin folder as the source is packed reproducibly first, so a folder and
its archive install the same bytes with the same sha256. The previous version stays beside the new one (a way
back); older ones go.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...declaration.manifest import LoadedPlugin, load_manifest
from ...declaration.packages import MARKER, InstalledPackage, installed_packages, package_dir, packages_root
from ...errors import ConfigError
from ...events import EventBus
from ...events.catalogue import MODEL_PROGRESS
from ...plan import ModelSpec
from ...util.atomic import atomic_write_text, temp_path_for
from ...util.redact import redact_url
from ..models import ModelError, ModelStore
from ._types import PackageError, PackageMismatch
from .archive import pack, sha256_file, unpack

__all__ = ["Fetched", "PackageStore"]

KEEP_PREVIOUS = 1  # installed versions kept besides the active one


@dataclass(frozen=True)
class Fetched:
    path: Path  # the archive, verified
    sha256: str
    size: int


class PackageStore:
    def __init__(self, state_dir: Path, *, storage_options: dict[str, Any] | None = None,
                 lock_timeout: float = 600.0) -> None:
        self.state_dir = state_dir
        self.root = packages_root(state_dir)
        self.downloads = self.root / ".downloads"
        self._bus = EventBus()  # the model machinery's own events: progress is translated for our callers
        self._bus.listen(self._progress)
        # the model machinery fetches archives with its own records and locks: state.json lists models only
        self._fetcher = ModelStore(self.downloads, self.root / ".fetch", events=self._bus,
                                   storage_options=storage_options, lock_timeout=lock_timeout)
        self._progress_to: dict[str, Callable[[int, int | None], None]] = {}

    def _progress(self, event: dict[str, Any]) -> None:
        if event.get("type") == MODEL_PROGRESS:
            data = event["data"]
            report = self._progress_to.get(data["filename"])
            if report is not None:
                report(data["bytes"], data["total"])

    # ---- fetching ----------------------------------------------------------------------------------------------

    async def fetch(self, plugin_id: str, source: str, sha256: str | None, *,
                    on_bytes: Callable[[int, int | None], None] | None = None) -> Fetched:
        """The package archive of ``source`` (verified against ``sha256``; None: whatever it holds now)."""
        if Path(source).is_dir():
            return await asyncio.to_thread(self._pack_folder, plugin_id, Path(source), sha256)
        name = f"{plugin_id}.pkg"
        spec = ModelSpec(name, source, sha256 or "", None, self.downloads / name, (), (plugin_id,), False)
        if on_bytes is not None:
            self._progress_to[name] = on_bytes
        try:
            path = await self._fetcher.download(spec, accept_any=sha256 is None)
        except ModelError as e:  # the model store says "model"; for a person this is the plugin's package
            if e.actual is not None and sha256 is not None:
                raise PackageMismatch(plugin_id, redact_url(source), sha256, e.actual) from None
            raise PackageError(str(e).replace(f"{name}: ", f"{plugin_id}: package ", 1)) from None
        finally:
            self._progress_to.pop(name, None)
        actual = sha256 or await asyncio.to_thread(sha256_file, path)
        return Fetched(path, actual, path.stat().st_size)

    async def keep_as(self, plugin_id: str, fetched: Fetched) -> None:
        """A package fetched under a stand-in name (its plugin id unknown then) kept as ``plugin_id``'s download,
        where an install of that plugin with that sha256 finds it instead of fetching its source again: copied
        through the store (so it is recorded as verified), then the stand-in goes. A folder's packed ``.zip`` is
        only removed: an install packs the folder again."""
        if fetched.path.name == f"{plugin_id}.pkg":
            return  # fetched under that name already
        if fetched.path.suffix != ".zip":
            await self.fetch(plugin_id, str(fetched.path), fetched.sha256)
        await asyncio.to_thread(fetched.path.unlink, missing_ok=True)

    async def discard(self, fetched: Fetched) -> None:
        """Removes a fetched package nobody will install."""
        await asyncio.to_thread(fetched.path.unlink, missing_ok=True)

    def _pack_folder(self, plugin_id: str, folder: Path, sha256: str | None) -> Fetched:
        self.downloads.mkdir(parents=True, exist_ok=True)
        packed = pack(folder, self.downloads / f"{plugin_id}.zip")
        if sha256 is not None and packed.sha256 != sha256:
            raise PackageMismatch(plugin_id, str(folder), sha256, packed.sha256)
        return Fetched(packed.path, packed.sha256, packed.size)

    # ---- installing --------------------------------------------------------------------------------------------

    async def install(self, plugin_id: str, source: str, sha256: str | None, *,
                      on_bytes: Callable[[int, int | None], None] | None = None) -> InstalledPackage:
        """Fetches, verifies, unpacks and publishes; the same content installed already is that install."""
        fetched = await self.fetch(plugin_id, source, sha256, on_bytes=on_bytes)
        return await asyncio.to_thread(self.publish, plugin_id, source, fetched)

    def publish(self, plugin_id: str, source: str, fetched: Fetched) -> InstalledPackage:
        """Unpacks into a staging folder, checks the manifest (its id must be ``plugin_id``), then renames it into
        place with its marker inside: a package folder is complete or absent."""
        folder = self.root / plugin_id
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = temp_path_for(folder / ".staging", "")
        try:
            root = unpack(fetched.path, staging)
            plugin = _checked(root, plugin_id)
            target = package_dir(self.state_dir, plugin_id, plugin.manifest.version, fetched.sha256)
            existing = next((p for p in installed_packages(self.state_dir, plugin_id) if p.path == target), None)
            if existing is not None:
                return existing
            marker = {"version": plugin.manifest.version, "sha256": fetched.sha256, "source": source,
                      "size": fetched.size, "installed_at": time.time()}
            atomic_write_text(root / MARKER, json.dumps(marker, indent=2) + "\n")
            shutil.rmtree(target, ignore_errors=True)  # an unfinished install of the same content
            os.replace(root, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._prune(plugin_id, keep=target)
        return InstalledPackage(plugin_id, plugin.manifest.version, fetched.sha256, source, fetched.size, target)

    def _prune(self, plugin_id: str, keep: Path) -> None:
        others = sorted((p for p in installed_packages(self.state_dir, plugin_id) if p.path != keep),
                        key=lambda p: p.path.stat().st_mtime)
        for old in others[:-KEEP_PREVIOUS] if KEEP_PREVIOUS else others:
            shutil.rmtree(old.path, ignore_errors=True)

    def remove(self, plugin_id: str) -> None:
        """Every installed version of the plugin; renamed aside first, so a half-removed package never loads."""
        folder = self.root / plugin_id
        if not folder.exists():
            return
        trash = temp_path_for(self.root / f".removed-{plugin_id}", "")
        os.replace(folder, trash)
        shutil.rmtree(trash, ignore_errors=True)
        for leftover in (self.downloads / f"{plugin_id}.pkg", self.downloads / f"{plugin_id}.zip"):
            leftover.unlink(missing_ok=True)  # the fetched archive goes with the package

    def installed(self) -> list[InstalledPackage]:
        return installed_packages(self.state_dir)


def _checked(root: Path, plugin_id: str) -> LoadedPlugin:
    try:
        return load_manifest(root, plugin_id)
    except ConfigError as e:
        problems = "; ".join(str(p).replace(str(root), "package") for p in e.problems)
        raise PackageError(f"{plugin_id}: the package is not a valid plugin: {problems}") from None
