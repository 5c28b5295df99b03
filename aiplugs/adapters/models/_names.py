"""Names inside the models folder: the target and the temp files of downloads (locks live in the state dir).

``<filename>.<pid>-<random>.part`` carries its owner's pid so a later run can tell a stale temp file (owner gone)
from one a live process is still writing.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...declaration.manifest import safe_filename
from ._types import ModelError

__all__ = ["check_filename", "part_owner", "parts_of"]

_PART = re.compile(r"^(?P<name>.+)\.(?P<pid>\d+)-(?P<rand>[0-9a-f]+)\.(?:part|tmp)$")


def check_filename(filename: str) -> str:
    """Refuses anything but a bare file name, even though manifests were validated: a ModelSpec may be built
    by hand, and a name with separators or ``..`` would write outside the models folder."""
    try:
        return safe_filename(filename)
    except ValueError as e:
        raise ModelError(f"refusing model filename {filename!r}: {e}") from None




def part_owner(name: str) -> tuple[str, int] | None:
    """``("model.bin", 1234)`` for ``model.bin.1234-9f3a.part`` (or ``.tmp``); None for anything else."""
    match = _PART.match(name)
    if match is None:
        return None
    return match["name"], int(match["pid"])


def parts_of(target: Path) -> list[tuple[Path, int]]:
    """Temp files of this target in its folder, with their owner pids."""
    found = []
    try:
        entries = list(target.parent.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        owner = part_owner(entry.name)
        if owner is not None and owner[0] == target.name:
            found.append((entry, owner[1]))
    return found
