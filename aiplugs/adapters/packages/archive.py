"""Plugin packages: ``pack`` a plugin folder into a reproducible .zip or .tar.gz, ``read_manifest`` of an archive
without extracting it, and ``unpack`` one safely into a staging folder.

Reading is two passes. ``scan`` checks every header (names, types, duplicates, counts, declared sizes, the
compression ratio, where manifest.json is) and writes nothing; only then does ``unpack`` stream the files, counting
the bytes it really gets, because declared sizes can lie.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import IO, Any, Callable

from pydantic import ValidationError

from ...declaration.manifest import MAX_MANIFEST_BYTES, Manifest
from ...declaration.validation import problems_from_validation_error
from ...util.atomic import fsync_dir, temp_path_for
from ._entries import MANIFEST, Entry, Listing
from ._formats import files_of, reading_errors, scan
from ._types import Format, Limits, PackageError, Packed
from ._write import collect, write_archive

__all__ = ["pack", "read_manifest", "sha256_file", "unpack"]

_SUFFIX: dict[str, str] = {"zip": ".zip", "tar.gz": ".tar.gz"}
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")  # it names a folder and a file: no separators
_CHUNK = 1024 * 1024


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# ---- pack -----------------------------------------------------------------------------------------------------

def pack(folder: Path, out: Path | None = None, *, fmt: Format = "zip") -> Packed:
    """Archive the plugin in ``folder`` as ``<id>-<version>/...`` into ``out`` (default: ``<id>-<version>.zip``
    or ``.tar.gz`` in the current folder; a folder given as ``out`` receives that name). Written atomically."""
    if fmt not in _SUFFIX:
        raise PackageError(f"unknown package format {fmt!r}; use 'zip' or 'tar.gz'")
    folder = Path(folder).resolve()
    plugin_id, version = _identity(folder)
    target = _target(out, f"{plugin_id}-{version}{_SUFFIX[fmt]}")
    sources = collect(folder, exclude=target)
    tmp = temp_path_for(target, ".part")
    try:
        with open(tmp, "xb") as handle:
            write_archive(handle, fmt, f"{plugin_id}-{version}", sources)
            handle.flush()
            os.fsync(handle.fileno())
        digest, size = sha256_file(tmp), tmp.stat().st_size
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return Packed(target, digest, size, plugin_id, version, len(sources))


def _target(out: Path | None, default_name: str) -> Path:
    if out is None:
        return Path.cwd().resolve() / default_name
    out = Path(out).resolve()
    if out.is_dir():
        return out / default_name
    if not out.parent.is_dir():
        raise PackageError(f"{out}: its folder does not exist; create {out.parent} first")
    return out


def _identity(folder: Path) -> tuple[str, str]:
    """The plugin's id and version, after the manifest passed the same validation ``aiplugs validate`` applies."""
    if not folder.is_dir():
        raise PackageError(f"{folder}: not a folder; pack() takes a plugin folder such as plugins/word-count")
    path = folder / MANIFEST
    if not path.is_file() or path.is_symlink():
        raise PackageError(f"{folder}: no {MANIFEST} (as a regular file); a plugin folder holds {MANIFEST} next "
                           "to its files — see README.md, 'Plugin manifests'")
    data = _parse_manifest(str(path), path.read_bytes())
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as e:
        problems = problems_from_validation_error(e, source=str(path), model=Manifest)
        raise PackageError(f"{path}: invalid manifest; fix it and pack again:\n"
                           + "\n".join(f"  {p}" for p in problems)) from None
    if not _VERSION.match(manifest.version):
        raise PackageError(f"{path}: version {manifest.version!r} cannot name a package; use letters, digits and "
                           "'.', '+', '_', '-' (like 1.0.0)")
    return manifest.id, manifest.version


def _parse_manifest(where: str, raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise PackageError(f"{where}: {len(raw)} bytes is over the {MAX_MANIFEST_BYTES}-byte limit for a manifest")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(f"{where}: not valid JSON ({e}); fix the file") from None
    if not isinstance(data, dict):
        raise PackageError(f"{where}: must hold a JSON object, got {type(data).__name__}; fix the file")
    return data


# ---- read -----------------------------------------------------------------------------------------------------

def read_manifest(archive: Path, *, limits: Limits = Limits()) -> dict[str, Any]:
    """The parsed manifest.json of ``archive``, read in memory: nothing is extracted. Not validated, so that
    ``plugins inspect`` can show a broken manifest too; ``unpack`` + the declaration layer validate."""
    archive = Path(archive)
    listing = scan(archive, limits)
    name = listing.manifest_name
    entry = listing.entry(name)
    if entry.size > MAX_MANIFEST_BYTES:
        raise PackageError(f"{archive}: entry {name!r}: {entry.size} bytes is over the {MAX_MANIFEST_BYTES}-byte "
                           "limit for a manifest")
    buffer = io.BytesIO()
    with reading_errors(archive):
        for found, stream in files_of(listing, limits, frozenset({name})):
            with stream:
                _copy(archive, found, stream, buffer.write)
    return _parse_manifest(f"{archive}: entry {name!r}", buffer.getvalue())


# ---- unpack ---------------------------------------------------------------------------------------------------

def unpack(archive: Path, staging: Path, *, limits: Limits = Limits()) -> Path:
    """Extract ``archive`` into ``staging`` (created if missing, else it must be empty) and return the plugin's
    root inside it: ``staging`` itself, or ``staging/<top folder>``. On any refusal ``staging`` is left empty
    (or absent, if this call created it) and nothing is written anywhere else."""
    archive, staging = Path(archive), Path(staging)
    listing = scan(archive, limits)  # every refusal the headers can show happens here, before any write
    created = _prepare(staging)
    try:
        _extract(listing, staging, limits)
    except BaseException:
        _clear(staging, remove=created)
        raise
    return staging / listing.root if listing.root else staging


def _prepare(staging: Path) -> bool:
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        raise PackageError(f"{staging}: staging must be a folder (not a file or a link); pick another path")
    if staging.exists():
        if any(staging.iterdir()):
            raise PackageError(f"{staging}: staging folder is not empty; unpack needs a new or empty folder")
        return False
    staging.mkdir(parents=True)
    return True


def _clear(staging: Path, *, remove: bool) -> None:
    for child in staging.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    if remove:
        staging.rmdir()


def _extract(listing: Listing, staging: Path, limits: Limits) -> None:
    """Folders first, then files in archive order. Modes come from us, never from the archive: 0o755 folders,
    0o644 files (0o755 if the archive marked them executable); owners are whoever runs this."""
    for entry in listing.entries:
        if entry.kind == "dir":
            _folder(staging, entry.name)
    with reading_errors(listing.archive):
        for entry, stream in files_of(listing, limits):
            parent, _, base = entry.name.rpartition("/")
            target = _folder(staging, parent) / base
            mode = 0o755 if entry.executable else 0o644
            # O_EXCL|O_NOFOLLOW: never write through something already there, a link least of all.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as out, stream:
                os.fchmod(out.fileno(), mode)
                _copy(listing.archive, entry, stream, out.write)


def _folder(staging: Path, name: str) -> Path:
    folder = staging.joinpath(*name.split("/")) if name else staging
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    return folder


def _copy(archive: Path, entry: Entry, stream: IO[bytes], write: Callable[[bytes], object]) -> None:
    """Copy at most the declared size. Every entry is held to its own declared size, and those sum to at most
    ``Limits.max_bytes`` (checked by ``scan``), so the total written is bounded even if a library trusted a lie."""
    written = 0
    while chunk := stream.read(_CHUNK):
        written += len(chunk)
        if written > entry.size:
            raise PackageError(f"{archive}: entry {entry.name!r} holds more than the {entry.size} bytes its header "
                               "declares; the archive is forged or damaged — do not install it")
        write(chunk)
    if written != entry.size:
        raise PackageError(f"{archive}: entry {entry.name!r} holds {written} bytes, not the {entry.size} its header "
                           "declares; the archive is damaged — download it again")
