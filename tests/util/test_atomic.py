"""Atomic writes: same folder, fsync, replace; a failed write leaves the old file and no temp file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from aiplugs.util.atomic import atomic_write_bytes, atomic_write_text, fsync_dir, temp_owner, temp_path_for


def test_write_creates_parents_and_sets_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.txt"
    atomic_write_text(target, "héllo", mode=0o600)
    assert target.read_text(encoding="utf-8") == "héllo"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_replace_keeps_readers_on_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    inode = target.stat().st_ino
    atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"new" * 1000
    assert target.stat().st_ino != inode  # a new file took its place; the old one was never truncated


def test_failed_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_temp_path_is_unique_and_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model.bin"
    a, b = temp_path_for(target), temp_path_for(target, ".part")
    assert a.parent == b.parent == tmp_path
    assert a != b and a.name.startswith("model.bin.") and b.name.endswith(".part")
    fsync_dir(tmp_path)  # works on a real folder


def test_temp_owner_reads_the_pid_temp_path_for_put_in_the_name(tmp_path: Path) -> None:
    import os

    assert temp_owner(temp_path_for(tmp_path / "state.json")) == os.getpid()
    assert temp_owner(temp_path_for(tmp_path / ".removing-abc", ""), "") == os.getpid()
    assert temp_owner(tmp_path / "state.json.12-zz.tmp") is None  # not hex
    assert temp_owner(tmp_path / "state.json.12-ab.part") is None  # another suffix
    assert temp_owner(tmp_path / "state.json") is None
    assert temp_owner(tmp_path / "abc", "") is None
