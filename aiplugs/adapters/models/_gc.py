"""Garbage collection of the models folder: decide what goes (pure listing), then remove it.

Goes: files no enabled plugin declares, temp files (``.part``/``.tmp``) whose owner pid is gone, lock files nobody
holds and their holder sidecars. Stays: declared files, hidden files (``.gitkeep``), folders, temp files of live
processes, held locks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ...util.procs import pid_alive
from ._names import part_owner

__all__ = ["collect", "garbage"]


def garbage(models_dir: Path, keep: Iterable[str]) -> list[Path]:
    keep = set(keep)
    try:
        entries = sorted(models_dir.iterdir())
    except FileNotFoundError:
        return []
    found: list[Path] = []
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name in keep or not entry.is_file() or entry.is_symlink():
            continue
        owner = part_owner(name)
        if owner is not None:
            if owner[1] != os.getpid() and not pid_alive(owner[1]):
                found.append(entry)
        elif name.endswith(".lock"):
            if not _held(entry):
                found.append(entry)
        elif name.endswith(".lock.holder"):
            lock = entry.with_name(name[: -len(".holder")])
            if not lock.exists() or not _held(lock):
                found.append(entry)
        else:
            found.append(entry)
    return found


def collect(models_dir: Path, keep: Iterable[str], *, dry_run: bool = False) -> list[Path]:
    found = garbage(models_dir, keep)
    if dry_run:
        return found
    removed = []
    for path in found:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _held(lock: Path) -> bool:
    """Whether some process holds this lock right now: a non-blocking flock probe (what filelock uses on Unix),
    done by hand because filelock's release may delete the file, which a dry run must not do."""
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our probe lock too
    return False
