"""The small values the package format hands out: its error, the extraction limits, a packing result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import AiplugsError

__all__ = ["Format", "Limits", "PackageError", "Packed"]

Format = Literal["zip", "tar.gz"]

MiB = 1024 * 1024


class PackageError(AiplugsError):
    """A plugin package could not be built, read or unpacked; the message names the archive (or folder), the
    entry, and what to do about it."""


class PackageMismatch(PackageError):
    """The source holds other bytes than the pinned sha256 (the caller knows who pinned it and says how to
    accept the change)."""

    def __init__(self, plugin_id: str, source: str, expected: str, actual: str) -> None:
        super().__init__(f"{plugin_id}: {source} has sha256 {actual}, expected {expected}")
        self.plugin_id, self.source, self.expected, self.actual = plugin_id, source, expected, actual


@dataclass(frozen=True)
class Limits:
    """What ``unpack`` and ``read_manifest`` accept before refusing an archive as hostile or broken.

    A plugin package carries code, styles and small data; large models are declared in the manifest by URL and
    fetched by the model store, so these bounds sit far above any honest plugin and far below a disk-filler:

    - ``max_bytes``: 256 MiB of uncompressed files in total.
    - ``max_file_bytes``: 128 MiB for one file (half the total, so one entry cannot be the whole budget).
    - ``max_files``: 10,000 entries (files and folders); more is a slow-extraction / inode attack, not a plugin.
    - ``max_ratio``: 100 (uncompressed bytes / archive bytes). Source text deflates about 3-10x and a folder of
      JSON rarely beyond 20x; zip and gzip bombs reach 1000x and more.
    - ``ratio_grace_bytes``: the ratio is only checked once the output exceeds 1 MiB, because a tiny archive of
      repetitive text (a 40 KB blank CSS file in 300 bytes) has a large ratio and no power to hurt.
    """

    max_bytes: int = 256 * MiB
    max_file_bytes: int = 128 * MiB
    max_files: int = 10_000
    max_ratio: float = 100.0
    ratio_grace_bytes: int = 1 * MiB


@dataclass(frozen=True)
class Packed:
    """One archive built by ``pack``."""

    path: Path
    sha256: str  # hex
    size: int  # bytes of the archive
    plugin_id: str
    version: str
    file_count: int
