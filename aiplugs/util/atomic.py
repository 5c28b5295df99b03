"""Atomic file writes: temp file in the same folder, fsync, ``os.replace``, fsync the folder."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "fsync_dir", "temp_owner", "temp_path_for"]

_TEMP = re.compile(r"\.(?P<pid>\d+)-[0-9a-f]+$")


def temp_path_for(target: Path, suffix: str = ".tmp") -> Path:
    """A name unique to this process and call, beside ``target``: ``<name>.<pid>-<random><suffix>``."""
    return target.with_name(f"{target.name}.{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def temp_owner(path: Path, suffix: str = ".tmp") -> int | None:
    """The pid that made ``path`` with ``temp_path_for`` (same ``suffix``); None for any other name."""
    name = path.name
    if not name.endswith(suffix):
        return None
    match = _TEMP.search(name[:len(name) - len(suffix)] if suffix else name)
    return int(match["pid"]) if match else None


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)
