"""Cross-process locks that say who holds them: one kind for the apply lock, the daemon lock and the model locks.

A ``HeldLock`` is a ``flock`` lock (flock.py: the lock ``filelock`` takes) plus a small JSON sidecar (pid,
command, since) written by the holder, so a waiter that gives up can name who holds it. The sidecar is only for
messages: the lock is the kernel's, and a process that dies releases it. Model locks live in
``<state_dir>/locks/``, not beside the models, so the models folder holds model files only.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from ..errors import AiplugsError
from ..util.atomic import atomic_write_text
from ..util.procs import pid_alive
from .flock import FileLock, LockTimeout

__all__ = ["ApplyLock", "HeldLock", "LockHeld", "model_lock_path"]

LOCKS_DIR = "locks"


class LockHeld(AiplugsError):
    """Waiting for a lock timed out; the message names the holder and what to do."""


def model_lock_path(state_dir: Path, filename: str) -> Path:
    return state_dir / LOCKS_DIR / f"{filename}.lock"


class HeldLock:
    def __init__(self, path: Path, *, what: str, timeout: float, hint: str = "") -> None:
        self.path = path
        self.what = what  # "another apply", "a download of model.bin", ...
        self.timeout = timeout
        self.hint = hint  # e.g. "(--lock-timeout)"
        self._info = path.with_name(path.name + ".holder")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(path)

    def holder(self) -> dict | None:
        try:
            data = json.loads(self._info.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def describe_holder(self) -> str:
        info = self.holder()
        if info is None:
            return "an unknown process"
        since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
        gone = "" if pid_alive(info.get("pid")) else ", which no longer runs"
        return f"pid {info.get('pid')} (`{info.get('command')}`) since {since}{gone}"

    def _gave_up(self) -> LockHeld:
        return LockHeld(f"{self.what} holds {self.path}: {self.describe_holder()}; gave up after {self.timeout:g}s"
                        f"{' ' + self.hint if self.hint else ''}; wait for it to finish, or stop that process "
                        "(a lock of a process that is gone is released by the system)")

    def _mark(self) -> None:
        info = {"pid": os.getpid(), "command": " ".join(sys.argv)[:200] or sys.executable, "since": time.time()}
        try:
            atomic_write_text(self._info, json.dumps(info), mode=0o600)
        except OSError:
            pass  # the sidecar is only for messages

    def acquire(self) -> None:
        try:
            self._lock.acquire(timeout=self.timeout)
        except LockTimeout:
            raise self._gave_up() from None
        self._mark()

    async def acquire_async(self) -> None:
        """Polls without blocking, so the event loop stays live and waiting can be cancelled."""
        deadline, delay = time.monotonic() + self.timeout, 0.02
        while True:
            try:
                self._lock.acquire(timeout=0)
                break
            except LockTimeout:
                if time.monotonic() >= deadline:
                    raise self._gave_up() from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        await asyncio.to_thread(self._mark)

    def release(self) -> None:
        try:
            self._info.unlink()
        except OSError:
            pass
        self._lock.release()

    def __enter__(self) -> HeldLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    async def __aenter__(self) -> HeldLock:
        await self.acquire_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class ApplyLock(HeldLock):
    """Two applies on one state dir never interleave; the second names the holder when it gives up."""

    def __init__(self, state_dir: Path, timeout: float = 30.0) -> None:
        super().__init__(state_dir / "apply.lock", what=f"another apply on {state_dir}", timeout=timeout,
                         hint="(--lock-timeout)")
