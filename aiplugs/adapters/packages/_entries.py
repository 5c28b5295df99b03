"""The entries of an archive as a plan: names made safe, types and limits checked, the plugin root found.

Everything here is computed from the archive's headers alone, before a byte is written, so a hostile archive is
refused with nothing on disk to clean up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ._types import Format, Limits, PackageError

__all__ = ["MANIFEST", "Entry", "Kind", "Listing", "Tally", "clean_name", "find_root", "hostile"]

MANIFEST = "manifest.json"
Kind = Literal["file", "dir"]
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HOSTILE = "this is not a safe plugin package: do not install it, and ask its author for one built with pack()"


def hostile(archive: Path, raw: str, problem: str) -> PackageError:
    return PackageError(f"{archive}: entry {raw!r}: {problem}; {HOSTILE}")


@dataclass(frozen=True)
class Entry:
    name: str  # relative POSIX path, safe to join under the staging folder
    kind: Kind
    size: int  # declared uncompressed bytes (0 for folders)
    executable: bool


@dataclass(frozen=True)
class Listing:
    """An archive that passed every check its headers allow: what ``unpack`` will write, and where the plugin is."""

    archive: Path
    format: Format
    entries: tuple[Entry, ...]
    root: str  # "" when manifest.json sits at the archive's root, else the single top folder

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)

    @property
    def manifest_name(self) -> str:
        return f"{self.root}/{MANIFEST}" if self.root else MANIFEST


def clean_name(archive: Path, raw: str) -> str | None:
    """``raw`` as a relative POSIX path that stays inside the extraction folder, or None for the archive's own
    root folder (``./``, which ``tar -C plugin -czf x.tgz .`` writes). Refuses rather than repairs: an archive
    that needs repairing was not made by a well-behaved tool."""
    if not raw:
        raise hostile(archive, raw, "has an empty name")
    if _CONTROL.search(raw):
        raise hostile(archive, raw, "has control characters in its name")
    if "\\" in raw:
        # Windows extraction would treat it as a separator: "a\..\..\evil" escapes there.
        raise hostile(archive, raw, "has a backslash in its name")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise hostile(archive, raw, "is an absolute path")
    name = raw.removesuffix("/")
    while name.startswith("./"):
        name = name[2:]
    if name in ("", "."):
        return None
    parts = name.split("/")
    if ".." in parts:
        raise hostile(archive, raw, "escapes the package folder with '..'")
    if "" in parts or "." in parts:
        raise hostile(archive, raw, "has empty or '.' parts in its path")
    return name


class Tally:
    """Accumulates entries while an archive is listed and refuses as soon as a limit is crossed, so a bomb is
    stopped at its header instead of after its data was inflated."""

    def __init__(self, archive: Path, limits: Limits, archive_size: int) -> None:
        self.archive, self.limits, self.archive_size = archive, limits, max(archive_size, 1)
        self.entries: list[Entry] = []
        self.count = 0
        self.total = 0
        self._seen: set[str] = set()

    def too_many(self) -> PackageError:
        return PackageError(f"{self.archive}: more than {self.limits.max_files} entries; a plugin package holds "
                            "far fewer — remove generated files, or raise Limits.max_files if you trust it")

    def add(self, raw: str, kind: Kind, size: int, executable: bool) -> None:
        self.count += 1
        if self.count > self.limits.max_files:
            raise self.too_many()
        name = clean_name(self.archive, raw)
        if name is None:
            if kind == "dir":
                return
            raise hostile(self.archive, raw, "is a file named like the archive's root folder")
        self._check_size(name, size)
        key = name.casefold()  # names differing only in case are one file on macOS and Windows
        if key in self._seen:
            raise hostile(self.archive, raw, "appears twice (names that differ only in case count as the same)")
        self._seen.add(key)
        self.entries.append(Entry(name, kind, size if kind == "file" else 0, executable and kind == "file"))

    def _check_size(self, name: str, size: int) -> None:
        limits, where = self.limits, f"{self.archive}: entry {name!r}"
        self.total += size
        ratio = self.total / self.archive_size
        # The ratio first: for a bomb it is the telling reason, whatever other limit its size also crosses.
        if self.total > limits.ratio_grace_bytes and ratio > limits.max_ratio:
            raise PackageError(f"{where}: the archive inflates {ratio:.0f}x (limit {limits.max_ratio:g}x), "
                               f"the mark of a compression bomb; {HOSTILE}")
        if size > limits.max_file_bytes:
            raise PackageError(f"{where}: {size} bytes is over the {limits.max_file_bytes}-byte limit for one "
                               "file; declare large data as a model (URL + sha256) in manifest.json instead")
        if self.total > limits.max_bytes:
            raise PackageError(f"{self.archive}: more than {limits.max_bytes} bytes uncompressed (at {name!r}); "
                               "declare large data as models in manifest.json, or raise Limits.max_bytes")

    def finish(self, fmt: Format) -> Listing:
        files = {e.name.casefold() for e in self.entries if e.kind == "file"}
        for entry in self.entries:
            parts = entry.name.casefold().split("/")
            for depth in range(1, len(parts)):
                if "/".join(parts[:depth]) in files:
                    raise hostile(self.archive, entry.name, f"lies inside {'/'.join(parts[:depth])!r}, a file")
        entries = tuple(self.entries)
        return Listing(self.archive, fmt, entries, find_root(self.archive, entries))


def find_root(archive: Path, entries: tuple[Entry, ...]) -> str:
    """``""`` if manifest.json is at the root, else the single top folder holding it; anything else is refused."""
    files = {e.name for e in entries if e.kind == "file"}
    if MANIFEST in files:
        return ""
    tops = sorted({e.name.split("/", 1)[0] for e in entries})
    if len(tops) == 1 and f"{tops[0]}/{MANIFEST}" in files:
        return tops[0]
    shown = ", ".join(tops[:5]) + (", ..." if len(tops) > 5 else "") or "nothing"
    raise PackageError(f"{archive}: no {MANIFEST} at the archive's root or inside a single top folder (top level "
                       f"holds: {shown}); put {MANIFEST} at the root, or everything in one folder with "
                       f"{MANIFEST} directly inside it")
