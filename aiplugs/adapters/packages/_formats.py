"""Reading zip and tar.gz archives behind one face: list their entries into a ``Listing``, then stream the
files of that listing. Formats are told apart by their first bytes, never by the file name."""

from __future__ import annotations

import gzip
import stat
import struct
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from ._entries import Entry, Kind, Listing, Tally, clean_name, hostile
from ._types import Format, Limits, PackageError

__all__ = ["detect_format", "files_of", "reading_errors", "scan"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty zip
_GZIP_MAGIC = b"\x1f\x8b"
_TAR_OVERHEAD = 4096  # per entry: its header, a long-name or pax header, and padding to 512 bytes
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError,
                NotImplementedError, struct.error, UnicodeDecodeError, ValueError)


@contextmanager
def reading_errors(archive: Path) -> Iterator[None]:
    """Library errors (a bad CRC, a truncated stream, an unsupported method) become one PackageError."""
    try:
        yield
    except _READ_ERRORS as e:
        raise PackageError(f"{archive}: cannot read the archive ({type(e).__name__}: {e}); it is damaged or forged "
                           "— download it again, or rebuild it with pack()") from e


def detect_format(archive: Path) -> Format:
    try:
        with open(archive, "rb") as handle:
            head = handle.read(4)
    except FileNotFoundError:
        raise PackageError(f"{archive}: no such file; check the path") from None
    except IsADirectoryError:
        raise PackageError(f"{archive}: is a folder; pass a .zip or .tar.gz file (pack() builds one)") from None
    if head in _ZIP_MAGIC:
        return "zip"
    if head.startswith(_GZIP_MAGIC):
        return "tar.gz"
    raise PackageError(f"{archive}: neither a zip nor a gzip file (starts with {head!r}); a plugin package is a "
                       ".zip or .tar.gz built with pack()")


def scan(archive: Path, limits: Limits) -> Listing:
    """Every check the headers allow, before anything is written; raises PackageError at the first problem."""
    fmt = detect_format(archive)
    tally = Tally(archive, limits, archive.stat().st_size)
    with reading_errors(archive):
        if fmt == "zip":
            _scan_zip(archive, tally)
        else:
            _scan_tar(archive, tally)
    return tally.finish(fmt)


def files_of(listing: Listing, limits: Limits, wanted: frozenset[str] | None = None
             ) -> Iterator[tuple[Entry, IO[bytes]]]:
    """The file entries of ``listing`` (or only the ``wanted`` names) with a stream of each, in archive order.
    Reads the archive again, so anything that changed since ``scan`` is refused rather than trusted."""
    planned = {e.name: e for e in listing.entries}
    left = set(planned if wanted is None else wanted)
    opener = _zip_files if listing.format == "zip" else _tar_files
    for raw, kind, size, stream in opener(listing.archive, limits):
        name = clean_name(listing.archive, raw)
        if name is None:
            continue
        entry = planned.get(name)
        repeated = wanted is None and name not in left  # a second copy of an entry already written
        if entry is None or (entry.kind, entry.size) != (kind, size) or repeated:
            raise PackageError(f"{listing.archive}: entry {raw!r} changed while the archive was being read; "
                               "make sure nothing writes to the archive, then try again")
        if name in left:
            left.discard(name)
            if kind == "file":
                yield entry, stream()
        if not left:
            return


# ---- zip ------------------------------------------------------------------------------------------------------

def _zip_kind(archive: Path, info: zipfile.ZipInfo) -> Kind:
    """Unix tools keep the file type in the high 16 bits of the external attributes; unzip restores a symlink from
    them, so an entry marked as one is refused even though Python's zipfile would write it as a plain file."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise hostile(archive, info.orig_filename, "is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise hostile(archive, info.orig_filename, "is a device file, FIFO or socket")
    if info.flag_bits & 0x1:
        raise PackageError(f"{archive}: entry {info.orig_filename!r} is encrypted; repack it without a password")
    return "dir" if info.is_dir() or kind == stat.S_IFDIR else "file"


def _scan_zip(archive: Path, tally: Tally) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > tally.limits.max_files:
            raise tally.too_many()
        for info in infos:
            kind = _zip_kind(archive, info)
            # orig_filename keeps what zipfile's NUL truncation hides ("evil.py\0.txt").
            tally.add(info.orig_filename, kind, info.file_size if kind == "file" else 0, bool((info.external_attr >> 16) & 0o111))


def _zip_files(archive: Path, limits: Limits) -> Iterator[tuple[str, Kind, int, Callable[[], IO[bytes]]]]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            kind = _zip_kind(archive, info)
            size = info.file_size if kind == "file" else 0
            yield info.orig_filename, kind, size, lambda info=info: zf.open(info)


# ---- tar.gz ---------------------------------------------------------------------------------------------------

class _Bounded:
    """A read-only stream that refuses to hand out more than ``cap`` bytes. The headers of a tar live inside the
    gzip stream, so listing one means inflating it; this stops a gzip bomb that hides no header at all (a huge
    pax record, say) before it costs more than the limits allow."""

    def __init__(self, inner: IO[bytes], cap: int, archive: Path) -> None:
        self.inner, self.cap, self.archive, self.read_bytes = inner, cap, archive, 0

    def read(self, size: int = -1) -> bytes:
        want = self.cap + 1 - self.read_bytes if size < 0 else min(size, self.cap + 1 - self.read_bytes)
        data = self.inner.read(want)
        self.read_bytes += len(data)
        if self.read_bytes > self.cap:
            raise PackageError(f"{self.archive}: the gzip stream inflates past {self.cap} bytes before its entries "
                               f"end, the mark of a compression bomb; do not install it")
        return data


@contextmanager
def _open_tar(archive: Path, limits: Limits) -> Iterator[tarfile.TarFile]:
    cap = limits.max_bytes + (limits.max_files + 1) * _TAR_OVERHEAD + tarfile.RECORDSIZE
    with open(archive, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        # "r|" reads strictly forward: no seeking back into data the bound has already counted.
        with tarfile.open(fileobj=_Bounded(gz, cap, archive), mode="r|") as tf:  # type: ignore[call-overload]
            yield tf


def _tar_kind(archive: Path, member: tarfile.TarInfo) -> Kind:
    if member.issym() or member.islnk():
        raise hostile(archive, member.name, f"is a {'symbolic' if member.issym() else 'hard'} link")
    if member.isdir():
        return "dir"
    if member.isreg():
        return "file"
    raise hostile(archive, member.name, "is a device file, FIFO or other special file")


def _scan_tar(archive: Path, tally: Tally) -> None:
    with _open_tar(archive, tally.limits) as tf:
        for member in tf:
            kind = _tar_kind(archive, member)
            tally.add(member.name, kind, member.size if kind == "file" else 0, bool(member.mode & 0o111))


def _tar_files(archive: Path, limits: Limits) -> Iterator[tuple[str, Kind, int, Callable[[], IO[bytes]]]]:
    with _open_tar(archive, limits) as tf:
        for member in tf:
            kind = _tar_kind(archive, member)
            size = member.size if kind == "file" else 0
            yield member.name, kind, size, lambda member=member: tf.extractfile(member)
