"""An exclusive cross-process lock on a lock file: ``flock(2)``, the kernel's, released when its holder dies.

It is the lock ``filelock.FileLock`` takes on Unix (the lock file stays in place, so waiters share its inode), so
processes using either exclude each other. It exists because ``filelock`` 4 is ~24 modules (~1 MB resident) for
what the daemon needs from it; where ``flock`` is missing (Windows, a file system without it) ``filelock`` does the
work, soft-lock fallback included.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock", "LockTimeout"]

POLL_S = 0.05  # as filelock's default poll interval
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


class LockTimeout(TimeoutError):
    """The lock was not free within the timeout."""


class FileLock:
    """``with FileLock(path, timeout=30): ...``; ``timeout`` < 0 waits forever, 0 tries once. Re-entrant in one
    object (each ``acquire`` needs its ``release``), not thread-local, as ``filelock.FileLock(thread_local=False)``."""

    def __init__(self, path: str | os.PathLike[str], timeout: float = -1) -> None:
        self.path = os.fspath(path)
        self.timeout = timeout
        self._fd: int | None = None
        self._count = 0
        self._fallback: Any = None  # a filelock.FileLock where flock is unavailable

    @property
    def is_locked(self) -> bool:
        return self._count > 0

    def acquire(self, timeout: float | None = None) -> FileLock:
        timeout = self.timeout if timeout is None else timeout
        if self._fallback is None and self._count:
            self._count += 1
            return self
        if self._fallback is None and fcntl is not None:
            deadline = time.monotonic() + timeout
            while True:
                fd = self._try()
                if fd is not None:
                    self._fd, self._count = fd, 1
                    return self
                if self._fallback is not None:
                    break  # no flock here: filelock below
                if 0 <= timeout and time.monotonic() >= deadline:
                    raise LockTimeout(f"the lock {self.path} is held by another process")
                time.sleep(POLL_S)
        return self._acquire_fallback(timeout)

    def _try(self) -> int | None:
        """The locked descriptor, or None while another process holds it (or flock is missing: ``_fallback``)."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[union-attr]
        except OSError as e:
            os.close(fd)
            if e.errno == errno.ENOSYS:
                from filelock import FileLock as Fallback

                self._fallback = Fallback(self.path, thread_local=False)
                return None
            if e.errno in _BUSY:
                return None
            raise
        if os.fstat(fd).st_nlink == 0:  # the file was removed between our open and our lock: lock the new one
            os.close(fd)
            return self._try()
        return fd

    def _acquire_fallback(self, timeout: float) -> FileLock:
        from filelock import FileLock as Fallback
        from filelock import Timeout

        if self._fallback is None:
            self._fallback = Fallback(self.path, thread_local=False)
        try:
            self._fallback.acquire(timeout=timeout)
        except Timeout:
            raise LockTimeout(f"the lock {self.path} is held by another process") from None
        self._count += 1
        return self

    def release(self) -> None:
        if not self._count:
            return
        self._count -= 1
        if self._fallback is not None:
            self._fallback.release()
            return
        if self._count == 0 and self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)  # type: ignore[union-attr]
            finally:
                os.close(fd)

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
