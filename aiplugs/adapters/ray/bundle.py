"""A plugin folder as one zip archive, for replicas on nodes that do not share the daemon's disk.

Packed by the daemon into the replica's constructor argument (plugin folders hold code and content scripts; models
travel by URL and sha256), unpacked once per content into ``<node dir>/plugins/<id>/<sha12>`` — into a temp folder
beside it, then renamed, so concurrent replicas on one node never see half a folder. Entries with absolute paths or
``..`` are refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["SKIP", "pack", "unpack"]

SKIP = frozenset({"__pycache__", ".git", ".venv", "node_modules"})


def pack(folder: Path) -> tuple[bytes, str]:
    """(zip bytes, sha256 of them) of ``folder``; the same content gives the same bytes (sorted, fixed times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if SKIP & set(relative.parts) or not path.is_file():
                continue
            info = zipfile.ZipInfo(relative.as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777) << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def unpack(data: bytes, sha256: str, root: Path) -> Path:
    """The folder holding the archive's files under ``root`` (made once; reused while its content is the same)."""
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError("the plugin bundle does not match its sha256")
    target = root / sha256[:12]
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}.", dir=root))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"unsafe path in the plugin bundle: {info.filename!r}")
                path = scratch.joinpath(*name.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(archive.read(info))
                os.chmod(path, (info.external_attr >> 16) & 0o777 or 0o644)
        try:
            os.replace(scratch, target)
        except OSError:  # another replica of this node unpacked it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
