"""ModelStore: make each declared model file present and verified in the central ``models/`` folder.

Decide, then do: a file whose (size, mtime_ns, inode) still matches its record in state.json is ready without any
hashing or network; a present but unrecorded or changed file is hashed once; anything else is downloaded into a temp
file of this process beside the target, hashed while streaming, verified, fsynced and renamed into place.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from ...events import NULL_BUS, EventBus
from ...events.catalogue import MODEL_DOWNLOADING, MODEL_FAILED, MODEL_READY
from ...plan import DesiredState, ModelSpec, ModelState
from ...store.locks import HeldLock, LockHeld, model_lock_path
from ...store.state import ModelRecord, StateDamaged, StateFile, read_state, update_state
from ...util.procs import pid_alive
from ...store.observe import model_state
from ...util.redact import redact_url
from ._fetch import fetch
from ._names import check_filename, parts_of
from ._progress import ModelCallback
from ._sink import PartWriter
from ._types import ModelError, VerifyResult

__all__ = ["ModelStore"]



class ModelStore:
    def __init__(
        self,
        models_dir: Path,
        state_dir: Path,
        *,
        events: EventBus = NULL_BUS,
        lock_timeout: float = 600.0,
        stall_timeout: float = 60.0,
        storage_options: dict[str, Any] | None = None,
        retries: int = 5,
    ) -> None:
        """``storage_options`` maps a protocol to its fsspec options, e.g. ``{"s3": {"client_kwargs":
        {"endpoint_url": ...}}, "http": {"headers": {"Authorization": ...}}}`` (HTTP headers go only to the
        URL's own origin, never to a redirect target on another host)."""
        self.models_dir = Path(models_dir).absolute()
        self.state_dir = Path(state_dir).absolute()
        self.events = events
        self.lock_timeout = lock_timeout
        self.stall_timeout = stall_timeout
        self.storage_options = storage_options or {}
        self.retries = retries
        self._inflight: dict[str, asyncio.Task[Path]] = {}

    def path_for(self, model: ModelSpec) -> Path:
        return self.models_dir / check_filename(model.filename)

    # -- doing ------------------------------------------------------------------------------------------------
    async def download(self, model: ModelSpec, *, accept_any: bool = False) -> Path:
        """Fetches ``model`` into a temp file, verifies it and publishes it; concurrent downloads of one file in
        this process share one fetch, and across processes the lock holder's download serves its waiters.

        ``accept_any``: no sha256 is known yet (a package pinned on first install): keep what arrives."""
        target = self.path_for(model)
        loop = asyncio.get_running_loop()
        task = self._inflight.get(model.filename)
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._provision(model, target, accept_any), name=f"model {model.filename}")
            self._inflight[model.filename] = task
            task.add_done_callback(lambda t, name=model.filename: self._forget(name, t))
        return await asyncio.shield(task)

    def _forget(self, name: str, task: asyncio.Task[Path]) -> None:
        if self._inflight.get(name) is task:
            del self._inflight[name]
        if not task.cancelled():
            task.exception()  # mark retrieved: callers that went away must not cause "never retrieved" noise

    async def _provision(self, model: ModelSpec, target: Path, accept_any: bool = False) -> Path:
        shown = redact_url(model.url)
        try:
            await asyncio.to_thread(self.models_dir.mkdir, parents=True, exist_ok=True)
            async with self._lock_for(target):
                if not accept_any and self._recorded(model, target) is ModelState.READY:
                    return target  # another process downloaded it while we waited for its lock: that was ours
                await asyncio.to_thread(self._clean_stale_parts, target)
                return await self._download(model, target, shown, accept_any)
        except LockHeld as e:
            error = ModelError(f"{model.filename}: timed out waiting: {e}")
            self._failed(model, shown, error)
            raise error from None
        except ModelError as e:
            self._failed(model, shown, e)
            raise
        except OSError as e:
            error = ModelError(f"{model.filename}: cannot provision from {shown}: {e}")
            self._failed(model, shown, error)
            raise error from e

    def _failed(self, model: ModelSpec, shown: str, error: ModelError) -> None:
        self.events.publish(MODEL_FAILED, filename=model.filename, url=shown, error=str(error),
                            bytes=getattr(error, "bytes_received", 0), total=model.size)

    async def _download(self, model: ModelSpec, target: Path, shown: str, accept_any: bool = False) -> Path:
        self._check_space(model)
        self.events.publish(MODEL_DOWNLOADING, filename=model.filename, url=shown, total=model.size)
        callback = ModelCallback(model.filename, self.events)
        writer = await asyncio.to_thread(PartWriter, target)
        try:
            await fetch(model.url, writer, size=model.size, callback=callback, stall_timeout=self.stall_timeout,
                        storage_options=self.storage_options, retries=self.retries)
            await writer.flush()
            await asyncio.to_thread(writer.finish)
            actual = writer.hexdigest()
            if actual != model.sha256 and not accept_any:
                kept = " The existing file was left untouched." if target.exists() else ""
                raise ModelError.mismatch(model.sha256, actual,
                    f"{model.filename}: sha256 mismatch for {shown}: expected {model.sha256}, got {actual} "
                    f"({writer.received} bytes). The download was discarded.{kept} If the source changed on "
                    f"purpose, update sha256 (and size) in the manifest of {', '.join(model.used_by) or 'its plugin'};"
                    " otherwise the source is corrupt or was tampered with: fix it and pull again.")
            stat = await asyncio.to_thread(writer.publish)
        except BaseException as e:
            await writer.abort()
            if isinstance(e, ModelError):
                e.bytes_received = writer.received  # type: ignore[attr-defined]  # for the model.failed event
            if not isinstance(e, ModelError) and isinstance(e, Exception) and not isinstance(e, OSError):
                raise ModelError(f"{model.filename}: download from {shown} failed: {e}") from e
            raise
        await asyncio.to_thread(self._record, model.filename, actual, stat)
        self.events.publish(MODEL_READY, filename=model.filename, path=str(target), sha256=actual,
                            size=stat.st_size, downloaded=True)
        return target

    def _check_space(self, model: ModelSpec) -> None:
        if model.size is None:
            return
        free = shutil.disk_usage(self.models_dir).free
        if free < model.size:
            raise ModelError(f"{model.filename} needs {model.size} bytes but {self.models_dir} has only {free} "
                             "free; free some space (or point models_dir elsewhere) and pull again")

    # -- status and verify ----------------------------------------------------------------------------------
    def status(self, model: ModelSpec) -> ModelState:
        """Cheap: a stat, state.json and a look for live downloaders; never hashes."""
        target = self.path_for(model)
        recorded = self._recorded(model, target)
        if recorded is not ModelState.READY and self._downloading(model, target):
            return ModelState.DOWNLOADING
        return recorded

    async def verify(self, model: ModelSpec) -> VerifyResult:
        """Re-hashes the file now and records what it holds (or forgets the record when the file is gone)."""
        target = self.path_for(model)
        old = self._read_state().models.get(model.filename)
        try:
            actual, stat = await asyncio.to_thread(self._hash_file, target)
        except FileNotFoundError:
            if old is not None:
                await asyncio.to_thread(self._forget_record, model.filename)
            return VerifyResult(model.filename, target, ModelState.MISSING, model.sha256, None, None, old is not None)
        await asyncio.to_thread(self._record, model.filename, actual, stat)
        drift = old is not None and old.sha256 != actual
        if actual == model.sha256:
            self.events.publish(MODEL_READY, filename=model.filename, path=str(target), sha256=actual,
                                size=stat.st_size, downloaded=False)
            return VerifyResult(model.filename, target, ModelState.READY, model.sha256, actual, stat.st_size, drift)
        return VerifyResult(model.filename, target, ModelState.CORRUPT, model.sha256, actual, stat.st_size, drift)

    def gc(self, desired: DesiredState, *, dry_run: bool = False) -> list[Path]:
        """Removes files no enabled plugin declares, stale temp files and orphan locks; returns what went (or
        would go, with ``dry_run``)."""
        from ._gc import collect

        keep = {check_filename(m.filename) for m in desired.models}
        removed = collect(self.models_dir, keep, dry_run=dry_run)
        gone = {p.name for p in removed}
        if not dry_run and gone:
            def drop(state: StateFile) -> None:
                for name in gone & set(state.models):
                    del state.models[name]
            if gone & set(self._read_state().models):
                update_state(self.state_dir, drop)
        return removed

    # -- helpers ----------------------------------------------------------------------------------------------
    def _read_state(self) -> StateFile:
        """The recorded hashes; a damaged state.json vouches for nothing (files are verified again)."""
        try:
            return read_state(self.state_dir)
        except StateDamaged:
            return StateFile()

    def _recorded(self, model: ModelSpec, target: Path) -> ModelState:
        return model_state(target, self._read_state().models.get(model.filename), model.sha256)

    def _downloading(self, model: ModelSpec, target: Path) -> bool:
        task = self._inflight.get(model.filename)
        if task is not None and not task.done():
            return True
        holder = self._lock(target).holder()
        if holder is not None and pid_alive(holder.get("pid")):
            return True
        return any(path.suffix == ".part" and pid_alive(pid) for path, pid in parts_of(target))

    def _clean_stale_parts(self, target: Path) -> None:
        for path, pid in parts_of(target):
            if pid != os.getpid() and not pid_alive(pid):
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    def _lock(self, target: Path) -> HeldLock:
        """The cross-process lock of one model file, kept in the state dir."""
        return HeldLock(model_lock_path(self.state_dir, target.name), what=f"a download of {target.name}",
                        timeout=self.lock_timeout)

    def _lock_for(self, target: Path) -> Any:
        """The lock a download takes (a hook: tests drop it to show correctness does not depend on it)."""
        return self._lock(target)

    def _open_for_hash(self, path: Path) -> BinaryIO:
        """The one place verification reads a file (a hook: tests count bytes read through a subclass)."""
        return open(path, "rb", buffering=0)

    def _hash_file(self, path: Path) -> tuple[str, os.stat_result]:
        """sha256 and the stat of the very inode hashed (a concurrent os.replace cannot mix the two)."""
        with self._open_for_hash(path) as handle:
            stat = os.fstat(handle.fileno())
            return hashlib.file_digest(handle, "sha256").hexdigest(), stat

    def _record(self, filename: str, sha256: str, stat: os.stat_result) -> None:
        record = ModelRecord(sha256=sha256, size=stat.st_size, mtime_ns=stat.st_mtime_ns, inode=stat.st_ino)
        target = self.models_dir / filename

        def change(state: StateFile) -> None:
            # Under the state lock, record only the file that is really there: a process racing us without the
            # model lock may have replaced it since we hashed ours (its own record then describes the winner).
            try:
                if not record.matches_file(target.stat()):
                    return
            except FileNotFoundError:
                return
            state.models[filename] = record

        update_state(self.state_dir, change)

    def _forget_record(self, filename: str) -> None:
        update_state(self.state_dir, lambda state: state.models.pop(filename, None))
