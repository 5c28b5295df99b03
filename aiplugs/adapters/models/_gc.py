"""Garbage collection of the models folder: decide what goes (pure listing), then remove it.

Goes: files no enabled plugin declares (lock files earlier versions kept here included), temp files
(``.part``/``.tmp``) whose owner pid is gone. Stays: declared files, hidden files (``.gitkeep``), folders, temp
files of live processes.
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
        if owner is None or (owner[1] != os.getpid() and not pid_alive(owner[1])):
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

