"""The temp file a download streams into: sha256 computed as bytes are written (no second read), writes done in
a worker thread with one write in flight while the next buffer fills, then fsync, verify, ``os.replace``.

Write errors (ENOSPC, EFBIG, EIO...) become a ModelError naming the file and the cause; the temp file is removed,
the target is never touched.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from pathlib import Path

from ..fsutil import fsync_dir, temp_path_for
from ._types import ModelError

__all__ = ["PartWriter"]

BUFFER = 4 << 20  # bytes gathered before one threaded write+hash; big enough to make the thread hop free


class PartWriter:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = temp_path_for(target, ".part")
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._hasher = hashlib.sha256()
        self._buf: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[None] | None = None
        self.received = 0  # bytes accepted; after flush() all of them are written and hashed
        self.cancelled = False

    # -- async side (HTTP): buffer, then one threaded write in flight -------------------------------------------
    async def write(self, data: bytes) -> None:
        self._buf.append(data)
        self._buffered += len(data)
        self.received += len(data)
        if self._buffered >= BUFFER:
            await self._submit()

    async def flush(self) -> None:
        if self._buf:
            await self._submit()
        await self._wait_pending()

    async def _submit(self) -> None:
        await self._wait_pending()
        data = b"".join(self._buf) if len(self._buf) > 1 else self._buf[0]
        self._buf, self._buffered = [], 0
        self._pending = asyncio.get_running_loop().run_in_executor(None, self._write_sync, data)

    async def _wait_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending

    async def restart(self) -> None:
        """Back to zero bytes: the server ignored our Range or the resource changed under us."""
        self._buf, self._buffered = [], 0
        await self._wait_pending()
        await asyncio.to_thread(self._truncate)
        self.received = 0

    # -- sync side (fsspec, in a worker thread) ------------------------------------------------------------------
    def write_sync(self, data: bytes) -> None:
        self.received += len(data)
        self._write_sync(data)

    def _write_sync(self, data: bytes) -> None:
        if self.cancelled or self._fd is None:
            raise ModelError(f"download into {self.path} was cancelled")
        self._hasher.update(data)
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as e:
            raise self._write_error(e) from None

    def _truncate(self) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hasher = hashlib.sha256()

    def _write_error(self, e: OSError) -> ModelError:
        hint = {
            errno.ENOSPC: f"free space in {self.target.parent} (or point models_dir elsewhere) and pull again",
            errno.EDQUOT: "raise your disk quota or free space, then pull again",
            errno.EFBIG: "the file is larger than this file system or process allows (ulimit -f)",
            errno.EROFS: f"{self.target.parent} is read-only; point models_dir at a writable folder",
        }.get(e.errno or 0, "check the disk and pull again")
        return ModelError(f"cannot write {self.target.name} into {self.target.parent}: {e.strerror or e} "
                          f"after {self.received} bytes; nothing was published; {hint}")

    # -- finish ----------------------------------------------------------------------------------------------------
    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    def finish(self) -> None:
        """fsync and close (blocking; call in a thread)."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise self._write_error(e) from None
        finally:
            os.close(self._fd)
            self._fd = None

    def publish(self) -> os.stat_result:
        """Atomically replaces the target with the verified temp file (blocking). Returns the target's stat."""
        os.replace(self.path, self.target)
        fsync_dir(self.target.parent)
        return os.stat(self.target)

    async def abort(self) -> None:
        """Stops and removes the temp file, after any threaded write finished (its fd must not be reused)."""
        self.cancelled = True
        try:
            await self._wait_pending()
        except BaseException:
            pass
        self.discard()

    def discard(self) -> None:
        self.cancelled = True
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
