"""The cross-process lock per model (``<filename>.lock``, filelock) with a holder sidecar, so a waiter that gives
up can say who holds it. The lock only dedupes work: correctness never depends on it (every publish is a verified
temp file renamed into place)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ...util.atomic import atomic_write_text
from ...util.procs import pid_alive
from ._names import holder_path, lock_path
from ._types import ModelError

__all__ = ["ModelLock", "read_holder"]


def read_holder(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(holder_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "an unknown process"
    pid = holder.get("pid")
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    alive = "" if pid_alive(pid) else ", which no longer runs"
    return f"pid {pid} ({holder.get('command', '?')}, since {since}{alive})"


class ModelLock:
    """``async with ModelLock(target, timeout):`` polls a non-blocking filelock so the event loop stays live and
    cancellation works while waiting."""

    def __init__(self, target: Path, timeout: float) -> None:
        from filelock import FileLock

        self.target = target
        self.timeout = timeout
        self._lock = FileLock(str(lock_path(target)), timeout=0, thread_local=False)

    async def __aenter__(self) -> ModelLock:
        from filelock import Timeout

        deadline = time.monotonic() + self.timeout
        delay = 0.02
        while True:
            try:
                self._lock.acquire(timeout=0)
                break
            except Timeout:
                if time.monotonic() >= deadline:
                    raise ModelError(
                        f"timed out after {self.timeout:g} s waiting for {lock_path(self.target)}, held by "
                        f"{_describe(read_holder(self.target))}; wait for it to finish, or stop that process "
                        "(a lock of a process that is gone is released by the system)") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            holder = {"pid": os.getpid(), "command": " ".join(sys.argv)[:200] or sys.executable,
                      "since": time.time()}
            await asyncio.to_thread(atomic_write_text, holder_path(self.target), json.dumps(holder))
        except OSError:
            pass  # the sidecar is only for messages
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            holder_path(self.target).unlink()
        except OSError:
            pass
        self._lock.release()
