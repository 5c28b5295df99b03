"""Plugin folders as zip bundles for replicas on other nodes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from aiplugs.adapters.ray.bundle import pack, unpack


def folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "backend.py").write_text("def run(p):\n    return p\n")
    (root / "sub" / "data.txt").write_text("data")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "backend.cpython-311.pyc").write_bytes(b"\0")
    return root


def test_the_same_content_packs_to_the_same_bytes(tmp_path: Path) -> None:
    first = pack(folder(tmp_path / "a"))
    second = pack(folder(tmp_path / "b"))
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first[0])).namelist()
    assert names == ["backend.py", "sub/data.txt"]


def test_unpacking_makes_the_folder_once(tmp_path: Path) -> None:
    data, sha = pack(folder(tmp_path / "a"))
    target = unpack(data, sha, tmp_path / "node")
    assert target.name == sha[:12] and (target / "sub" / "data.txt").read_text() == "data"
    (target / "marker").write_text("kept")
    assert unpack(data, sha, tmp_path / "node") == target and (target / "marker").exists()
    assert [p.name for p in (tmp_path / "node").iterdir()] == [sha[:12]]  # no temp folder left


def test_a_bundle_that_is_not_what_its_sha256_says_is_refused(tmp_path: Path) -> None:
    data, sha = pack(folder(tmp_path / "a"))
    with pytest.raises(ValueError, match="does not match its sha256"):
        unpack(data + b"x", sha, tmp_path / "node")


def test_paths_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    import hashlib

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.py", "x")
    data = buffer.getvalue()
    with pytest.raises(ValueError, match="unsafe path"):
        unpack(data, hashlib.sha256(data).hexdigest(), tmp_path / "node")
    assert not (tmp_path / "evil.py").exists()
