"""read_manifest: the manifest of a package, in memory, under the same rules and limits as unpack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplugs.adapters.packages import Limits, PackageError, pack, read_manifest

from .conftest import MANIFEST, MANIFEST_BYTES, file, make_archive, tree

FORMATS = ["zip", "tar.gz"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_the_manifest_of_a_packed_plugin_without_extracting(plugin, tmp_path: Path, fmt: str) -> None:
    folder = plugin("sentiment")
    packed = pack(folder, tmp_path, fmt=fmt)
    before = tree(tmp_path)
    assert read_manifest(packed.path) == json.loads((folder / "manifest.json").read_text())
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("prefix", ["", "top/"])
def test_reads_a_root_level_or_single_top_folder_manifest(tmp_path: Path, fmt: str, prefix: str) -> None:
    archive = make_archive(fmt, tmp_path / "a", [file(f"{prefix}a.js", "x"), file(f"{prefix}manifest.json",
                                                                                  MANIFEST_BYTES)])
    assert read_manifest(archive) == MANIFEST


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_invalid_manifest_is_reported_with_the_archive_and_entry(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(fmt, tmp_path / "a", [file("p/manifest.json", "{oops")])
    with pytest.raises(PackageError, match=r"a\.(zip|tgz): entry 'p/manifest\.json': not valid JSON"):
        read_manifest(archive)
    archive = make_archive(fmt, tmp_path / "b", [file("manifest.json", "[]")])
    with pytest.raises(PackageError, match="must hold a JSON object, got list"):
        read_manifest(archive)


def test_an_oversized_manifest_is_refused_before_reading_it(tmp_path: Path) -> None:
    archive = make_archive("zip", tmp_path / "a", [file("manifest.json", b" " * (256 * 1024 + 1))])
    with pytest.raises(PackageError, match="over the 262144-byte limit for a manifest"):
        read_manifest(archive)


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_archives_and_limits_are_refused_here_too(tmp_path: Path, fmt: str) -> None:
    before = tree(tmp_path.parent)
    evil = make_archive(fmt, tmp_path / "evil", [file("manifest.json", MANIFEST_BYTES), file("../evil")])
    with pytest.raises(PackageError, match="escapes the package folder"):
        read_manifest(evil)
    many = make_archive(fmt, tmp_path / "many", [file("manifest.json", MANIFEST_BYTES), file("a"), file("b")])
    with pytest.raises(PackageError, match="more than 2 entries"):
        read_manifest(many, limits=Limits(max_files=2))
    two = make_archive(fmt, tmp_path / "two", [file("a/manifest.json", MANIFEST_BYTES), file("b/manifest.json")])
    with pytest.raises(PackageError, match="top level holds: a, b"):
        read_manifest(two)
    assert set(tree(tmp_path.parent)) - set(before) == {f"{tmp_path.name}/{n}" for n in tree(tmp_path)}
