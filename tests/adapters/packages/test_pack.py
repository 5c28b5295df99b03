"""pack: reproducible archives of a plugin folder, junk left out, links and bad manifests refused."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from aiplugs.adapters.packages import PackageError, pack, unpack

from .conftest import contents, tree

FORMATS = ["zip", "tar.gz"]


def names(archive: Path) -> list[str]:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    with tarfile.open(archive) as tf:
        return tf.getnames()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("plugin_id", ["word-count", "sentiment"])
def test_round_trip_gives_back_the_plugin_folder(plugin, tmp_path: Path, fmt: str, plugin_id: str) -> None:
    folder = plugin(plugin_id)
    packed = pack(folder, tmp_path, fmt=fmt)
    assert packed.path == tmp_path / f"{plugin_id}-1.0.0.{fmt}"
    assert (packed.plugin_id, packed.version, packed.file_count) == (plugin_id, "1.0.0", len(contents(folder)))
    assert packed.size == packed.path.stat().st_size
    assert packed.sha256 == hashlib.sha256(packed.path.read_bytes()).hexdigest()
    root = unpack(packed.path, tmp_path / "staging")
    assert root == tmp_path / "staging" / f"{plugin_id}-1.0.0"
    assert contents(root) == contents(folder)
    if plugin_id == "sentiment":
        assert (root / "data" / "lexicon-v1.tsv").is_file()


@pytest.mark.parametrize("fmt", FORMATS)
def test_packing_twice_gives_the_same_bytes_whatever_the_mtimes_modes_and_path(plugin, tmp_path: Path,
                                                                              fmt: str) -> None:
    folder = plugin("sentiment")
    first = pack(folder, tmp_path / f"a.{fmt}", fmt=fmt)
    moved = tmp_path / "elsewhere" / "sentiment"
    shutil.copytree(folder, moved)
    for path in moved.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
        if path.is_file():
            path.chmod(0o600)  # still not executable: the archive must not notice
    second = pack(moved, tmp_path / f"b.{fmt}", fmt=fmt)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256


@pytest.mark.parametrize("fmt", FORMATS)
def test_packing_changed_content_changes_the_bytes(plugin, tmp_path: Path, fmt: str) -> None:
    folder = plugin("word-count")
    first = pack(folder, tmp_path / f"a.{fmt}", fmt=fmt)
    (folder / "content.css").write_text("/* changed */")
    assert pack(folder, tmp_path / f"b.{fmt}", fmt=fmt).sha256 != first.sha256


def test_zip_entries_are_sorted_prefixed_dated_1980_with_normalized_modes(plugin, tmp_path: Path) -> None:
    folder = plugin("sentiment")
    (folder / "backend.py").chmod(0o700)
    (folder / "content.js").chmod(0o666)
    with zipfile.ZipFile(pack(folder, tmp_path).path) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == sorted(f"sentiment-1.0.0/{n}" for n in contents(folder))
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename.split("/", 1)[1]: i.external_attr >> 16 for i in infos}
    assert modes["backend.py"] == 0o100755
    assert modes["content.js"] == modes["manifest.json"] == 0o100644


def test_tar_entries_have_no_time_owner_or_gzip_name(plugin, tmp_path: Path) -> None:
    folder = plugin("sentiment")
    (folder / "backend.py").chmod(0o755)
    packed = pack(folder, tmp_path, fmt="tar.gz")
    raw = packed.path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0" and not raw[3] & 0x08  # gzip MTIME is 0, no FNAME field
    with tarfile.open(packed.path) as tf:
        members = tf.getmembers()
    assert [m.name for m in members] == sorted(f"sentiment-1.0.0/{n}" for n in contents(folder))
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.type) for m in members} == {(0, 0, 0, "", "", tarfile.REGTYPE)}
    assert {m.name.split("/", 1)[1]: m.mode for m in members}["backend.py"] == 0o755
    assert {m.mode for m in members if not m.name.endswith("backend.py")} == {0o644}
    with gzip.open(packed.path) as gz:
        assert gz.read()  # a valid gzip stream


def test_default_output_is_id_version_in_the_current_folder(plugin, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    folder = plugin("word-count")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert pack(folder).path == out / "word-count-1.0.0.zip"
    assert pack(folder, fmt="tar.gz").path == out / "word-count-1.0.0.tar.gz"
    assert tree(out) == ["word-count-1.0.0.tar.gz", "word-count-1.0.0.zip"]  # no temp files left


def test_an_archive_written_inside_the_folder_is_not_packed_into_the_next_one(plugin, tmp_path: Path) -> None:
    folder = plugin("word-count")
    first = pack(folder, folder)
    data = first.path.read_bytes()
    second = pack(folder, folder)
    assert second.path == first.path and second.path.read_bytes() == data
    assert "word-count-1.0.0/word-count-1.0.0.zip" not in names(second.path)


def test_caches_and_junk_are_left_out(plugin, tmp_path: Path) -> None:
    folder = plugin("sentiment")
    junk = ["__pycache__/backend.cpython-311.pyc", "data/__pycache__/x.py", "stray.pyc", ".git/config",
            ".DS_Store", "data/.DS_Store", ".aiplugs/state.json", "data/model.bin.part"]
    for name in junk:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("junk")
    (folder / ".eslintrc").write_text("{}")  # a dotfile that is not junk stays
    packed = pack(folder, tmp_path)
    inside = {n.split("/", 1)[1] for n in names(packed.path)}
    assert inside == {"backend.py", "content.js", "manifest.json", "data/lexicon-v1.tsv", ".eslintrc"}
    assert packed.file_count == 5


@pytest.mark.parametrize("link", ["content.js", "data"])
def test_a_symlink_in_the_folder_is_refused_and_nothing_is_written(plugin, tmp_path: Path, link: str) -> None:
    folder = plugin("sentiment")
    (folder / "extra").symlink_to(folder / link)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PackageError, match=r"extra is a symbolic link.*regular files only"):
        pack(folder, out)
    assert tree(out) == []


def test_a_fifo_in_the_folder_is_refused(plugin, tmp_path: Path) -> None:
    folder = plugin("word-count")
    os.mkfifo(folder / "pipe")
    with pytest.raises(PackageError, match="pipe is not a regular file"):
        pack(folder, tmp_path)


def test_a_folder_without_manifest_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "backend.py").write_text("")
    with pytest.raises(PackageError, match=r"empty: no manifest\.json"):
        pack(folder, tmp_path)
    with pytest.raises(PackageError, match="not a folder"):
        pack(tmp_path / "missing", tmp_path)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", r"manifest\.json: not valid JSON"),
    ("[1, 2]", "must hold a JSON object, got list"),
    (json.dumps({"manifest_version": 3, "id": "Bad Id", "name": "x", "version": "1"}), r"invalid manifest.*\n.*id: "),
    (json.dumps({"manifest_version": 3, "id": "ok", "version": "1"}), r"invalid manifest.*\n.*name: required"),
    (json.dumps({"manifest_version": 3, "id": "ok", "name": "x", "version": "1!2.0"}), "cannot name a package"),
    (json.dumps({"manifest_version": 3, "id": "ok", "name": "x", "version": "../1"}), "PEP 440"),
])
def test_an_invalid_manifest_is_refused_with_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / "manifest.json").write_text(text)
    with pytest.raises(PackageError, match=message) as caught:
        pack(folder, tmp_path)
    assert str(folder / "manifest.json") in str(caught.value)
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob("*.part"))


def test_an_unknown_format_is_refused(plugin, tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="unknown package format 'rar'"):
        pack(plugin("word-count"), tmp_path, fmt="rar")  # type: ignore[arg-type]
