"""Plugin folders to pack and hand-made archives to unpack: hostile ones are written with zipfile/tarfile
directly, the way an attacker would, not with the code under test."""

from __future__ import annotations

import io
import json
import shutil
import stat
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MANIFEST = {"manifest_version": 3, "id": "demo", "name": "Demo", "version": "1.0.0"}
MANIFEST_BYTES = json.dumps(MANIFEST).encode()


@pytest.fixture
def plugin(tmp_path: Path):
    """Copies ``plugins/<id>`` of the repository into ``tmp_path/src/<id>`` and returns its path."""

    def copy(plugin_id: str) -> Path:
        target = tmp_path / "src" / plugin_id
        shutil.copytree(REPO / "plugins" / plugin_id, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return target

    return copy


@dataclass(frozen=True)
class Member:
    """One entry of a hand-made archive; ``kind`` is a tarfile type byte, also mapped onto zip mode bits."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    mode: int = 0o644
    link: str = ""


def file(name: str, data: bytes | str = b"x", mode: int = 0o644) -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data, mode=mode)


_ZIP_TYPES = {tarfile.REGTYPE: stat.S_IFREG, tarfile.DIRTYPE: stat.S_IFDIR, tarfile.SYMTYPE: stat.S_IFLNK,
              tarfile.CHRTYPE: stat.S_IFCHR, tarfile.FIFOTYPE: stat.S_IFIFO}


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for m in members:
            info = zipfile.ZipInfo(m.name + ("/" if m.kind == tarfile.DIRTYPE else ""))
            info.create_system = 3
            info.external_attr = (_ZIP_TYPES[m.kind] | m.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, m.link.encode() if m.kind == tarfile.SYMTYPE else m.data)
    return path


def make_tar(path: Path, members: list[Member], **pax: str) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type, info.mode, info.linkname, info.uid, info.gid = m.kind, m.mode, m.link, 1234, 1234
            info.size = len(m.data) if m.kind == tarfile.REGTYPE else 0
            info.pax_headers = dict(pax)
            tf.addfile(info, io.BytesIO(m.data) if m.kind == tarfile.REGTYPE else None)
    return path


def make_archive(fmt: str, path: Path, members: list[Member]) -> Path:
    return make_zip(path.with_suffix(".zip"), members) if fmt == "zip" else make_tar(path.with_suffix(".tgz"), members)


def forge_zip_size(path: Path, name: str, size: int) -> None:
    """Overwrite the declared uncompressed size of ``name`` in its local header and its central directory record,
    leaving the compressed data (and CRC) alone: a zip whose headers lie."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(name).header_offset
    struct.pack_into("<I", data, local + 22, size)
    end = data.rfind(b"PK\x05\x06")
    count, _, offset = struct.unpack_from("<HII", data, end + 10)
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, offset + 28)
        if data[offset + 46:offset + 46 + name_len].decode() == name:
            struct.pack_into("<I", data, offset + 24, size)
        offset += 46 + name_len + extra_len + comment_len
    path.write_bytes(bytes(data))


def tree(root: Path) -> list[str]:
    """Every path under ``root`` (relative), to compare a folder before and after an operation."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """moto's S3 server on loopback; credentials are dummies."""
    from moto.server import ThreadedMotoServer

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_SESSION_TOKEN": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
