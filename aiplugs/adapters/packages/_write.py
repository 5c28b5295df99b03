"""Writing a plugin folder as an archive, reproducibly: the same files give the same bytes, whatever their
timestamps, owners or umask, so a package's sha256 identifies its content."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ._types import Format, PackageError

__all__ = ["Source", "collect", "is_junk", "write_archive"]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip header can hold
JUNK_DIRS = frozenset({"__pycache__", ".git", ".aiplugs"})
JUNK_FILES = frozenset({".DS_Store"})
JUNK_SUFFIXES = (".pyc", ".part")  # byte code is rebuilt on the target; .part files are unfinished downloads
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Source:
    name: str  # relative POSIX path inside the plugin folder
    path: Path
    size: int
    mode: int  # 0o644, or 0o755 if the file was executable


def is_junk(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in JUNK_DIRS
    return name in JUNK_FILES or name.endswith(JUNK_SUFFIXES)


def collect(folder: Path, exclude: Path | None = None) -> list[Source]:
    """The regular files of ``folder`` minus junk (and ``exclude``, the archive being written if it lands inside),
    sorted by name. A symlink or special file is refused: following it could pack files from outside the plugin,
    and dropping it silently would ship a plugin that breaks on the other side."""
    sources = []
    for top, dirs, files in os.walk(folder):
        base = Path(top)
        dirs[:] = [d for d in dirs if not is_junk(d, True) and _regular(folder, base / d, want_dir=True)]
        for name in files:
            path = base / name
            if is_junk(name, False) or (exclude is not None and path == exclude):
                continue
            info = _regular(folder, path, want_dir=False)
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            sources.append(Source(path.relative_to(folder).as_posix(), path, info.st_size, mode))
    return sorted(sources, key=lambda s: s.name)


def _regular(folder: Path, path: Path, *, want_dir: bool) -> os.stat_result:
    info = path.lstat()
    what = path.relative_to(folder).as_posix()
    if stat.S_ISLNK(info.st_mode):
        raise PackageError(f"{folder}: {what} is a symbolic link; a package holds regular files only — replace it "
                           "with a copy of its target, or delete it")
    if not (stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)):
        raise PackageError(f"{folder}: {what} is not a regular file (a FIFO, socket or device); move it out of "
                           "the plugin folder")
    return info


def write_archive(out: BinaryIO, fmt: Format, top: str, sources: list[Source]) -> None:
    if fmt == "zip":
        _write_zip(out, top, sources)
    else:
        _write_tar_gz(out, top, sources)


def _write_zip(out: BinaryIO, top: str, sources: list[Source]) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for source in sources:
            info = zipfile.ZipInfo(f"{top}/{source.name}", date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, on every OS, so the mode bits below mean the same everywhere
            info.external_attr = (stat.S_IFREG | source.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = source.size  # lets zipfile pick zip64 headers up front for files over 2 GiB
            with open(source.path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)


def _write_tar_gz(out: BinaryIO, top: str, sources: list[Source]) -> None:
    # GzipFile, not tarfile's "w:gz": that one stamps the current time and the file name into the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for source in sources:
            info = tarfile.TarInfo(f"{top}/{source.name}")
            info.size, info.mode, info.mtime = source.size, source.mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(source.path, "rb") as src:
                tf.addfile(info, src)
