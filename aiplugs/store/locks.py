"""The apply lock: two applies on one state dir never interleave; the second names the holder when it gives up."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from types import TracebackType

from ..errors import AiplugsError
from ..util.atomic import atomic_write_text

__all__ = ["ApplyLock", "LockHeld"]

LOCK_NAME = "apply.lock"


class LockHeld(AiplugsError):
    pass


class ApplyLock:
    def __init__(self, state_dir: Path, timeout: float = 30.0) -> None:
        from filelock import FileLock

        self.state_dir = state_dir
        self.timeout = timeout
        self._path = state_dir / LOCK_NAME
        self._info = state_dir / (LOCK_NAME + ".json")
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = FileLock(str(self._path))

    def holder(self) -> str:
        try:
            info = json.loads(self._info.read_text())
        except (OSError, json.JSONDecodeError):
            return "an unknown process"
        since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
        return f"pid {info.get('pid')} (`{info.get('command')}`) since {since}"

    def __enter__(self) -> ApplyLock:
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=self.timeout)
        except Timeout:
            raise LockHeld(f"another apply is running on {self.state_dir}: {self.holder()}; "
                           f"gave up after {self.timeout:g}s (--lock-timeout)") from None
        info = {"pid": os.getpid(), "command": " ".join(["aiplugs", *sys.argv[1:]]), "since": time.time()}
        atomic_write_text(self._info, json.dumps(info), mode=0o600)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._info.unlink(missing_ok=True)
        self._lock.release()
