"""The temp file a download streams into: sha256 computed as bytes arrive (no second read), then fsync, verify,
``os.replace``.

Hashing and writing are the two costs of a verified download, and both release the GIL, so each has its own
thread: every buffer goes to the hasher and to the writer at once, and each thread takes its buffers in order.
One thread doing both (the obvious design) leaves the event loop idle a third of the time on two cores. The writer
also starts the kernel's writeback of each buffer as soon as it is written (``posix_fadvise(DONTNEED)`` on Linux
writes dirty pages back asynchronously and drops the clean ones), so the final fsync finds little left to flush
and a pull does not fill the page cache with a file nobody reads yet.

Write errors (ENOSPC, EFBIG, EIO...) become a ModelError naming the file and the cause; the temp file is removed,
the target is never touched.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ...util.atomic import fsync_dir, temp_path_for
from ._types import ModelError

__all__ = ["PartWriter"]

BUFFER = 4 << 20  # bytes gathered before one threaded write and hash; big enough to make the thread hop free
IN_FLIGHT = 3  # buffers queued to the threads before the network side waits (memory: ~IN_FLIGHT x BUFFER)
WRITEBACK = hasattr(os, "posix_fadvise")  # Linux and most Unixes; elsewhere the final fsync does all the flushing


class PartWriter:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = temp_path_for(target, ".part")
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._hasher = hashlib.sha256()
        self._buf: list[bytes] = []
        self._buffered = 0
        self._pending: collections.deque[asyncio.Future[object]] = collections.deque()
        self._executor: ThreadPoolExecutor | None = None  # one thread: writes stay in order
        self._hash_executor: ThreadPoolExecutor | None = None  # one thread: the hash sees bytes in order
        self._written = 0  # bytes the writer thread has written (its offset for writeback)
        self._dropped = 0  # bytes before this offset were dropped from the page cache
        self.received = 0  # bytes accepted; after flush() all of them are written and hashed
        self.cancelled = False
        self._broken: ModelError | None = None  # a failed write: later queued writes must not leave a gap

    # -- async side (HTTP): buffer, then queue ordered writes to one writer thread ---------------------------------
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
        while len(self._pending) >= IN_FLIGHT:
            await self._pending.popleft()
        chunks, self._buf, self._buffered = self._buf, [], 0
        if self._executor is None or self._hash_executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="aiplugs-model-writer")
            self._hash_executor = ThreadPoolExecutor(1, thread_name_prefix="aiplugs-model-hasher")
        loop = asyncio.get_running_loop()
        self._pending.append(asyncio.gather(loop.run_in_executor(self._hash_executor, self._hash_chunks, chunks),
                                            loop.run_in_executor(self._executor, self._write_chunks, chunks)))

    async def _wait_pending(self) -> None:
        """Waits for every queued write; the first error wins, after all of them stopped touching the fd."""
        error: BaseException | None = None
        while self._pending:
            try:
                await self._pending.popleft()
            except BaseException as e:  # noqa: BLE001
                error = error or e
        if error is not None:
            raise error

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
        self._writeback(self._written, len(data))
        self._written += len(data)

    def _hash_chunks(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self._hasher.update(chunk)

    def _write_chunks(self, chunks: list[bytes]) -> None:
        """Hands the chunks to one writev (no joined copy of the buffer), then starts their writeback."""
        if self._broken is not None:
            raise self._broken
        if self.cancelled or self._fd is None:
            raise ModelError(f"download into {self.path} was cancelled")
        total = sum(len(c) for c in chunks)
        try:
            done = 0
            while chunks and done < total:
                n = os.writev(self._fd, chunks[:1024])  # IOV_MAX
                done += n
                chunks = _advance(chunks, n)
        except OSError as e:
            self._broken = self._write_error(e)
            raise self._broken from None
        self._writeback(self._written, total)
        self._written += total

    def _writeback(self, offset: int, length: int) -> None:
        """Starts writing these bytes to disk now, and drops from the page cache the earlier ones already on disk.

        Only a hint: durability still comes from the fsync in finish(), whatever this did or failed to do."""
        if not WRITEBACK or self._fd is None:
            return
        try:
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)
            behind = offset - IN_FLIGHT * BUFFER  # long enough ago that its writeback has likely finished
            if behind > self._dropped:
                os.posix_fadvise(self._fd, self._dropped, behind - self._dropped, os.POSIX_FADV_DONTNEED)
                self._dropped = behind
        except OSError:
            pass

    def _truncate(self) -> None:
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hasher = hashlib.sha256()
        self._written = self._dropped = 0

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
        """fsync and close (blocking; call in a thread, after flush())."""
        assert self._fd is not None
        self._stop_threads()
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

    def _stop_threads(self) -> None:
        for executor in (self._executor, self._hash_executor):
            if executor is not None:
                executor.shutdown(wait=True)
        self._executor = self._hash_executor = None

    def discard(self) -> None:
        self.cancelled = True
        self._stop_threads()
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


def _advance(chunks: list[bytes], n: int) -> list[bytes]:
    """What is left of ``chunks`` after ``n`` bytes were written."""
    i = 0
    while i < len(chunks) and n >= len(chunks[i]):
        n -= len(chunks[i])
        i += 1
    rest = chunks[i:]
    if rest and n:
        rest[0] = memoryview(rest[0])[n:]  # type: ignore[call-overload]
    return rest
