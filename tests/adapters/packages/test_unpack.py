"""unpack: hostile archives are refused with nothing written outside staging and nothing left inside it."""

from __future__ import annotations

import io
import os
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from aiplugs.adapters.packages import Limits, PackageError, unpack

from .conftest import MANIFEST_BYTES, Member, file, forge_zip_size, make_archive, make_tar, make_zip, tree

FORMATS = ["zip", "tar.gz"]
MiB = 1024 * 1024


def refused(archive: Path, tmp_path: Path, match: str, limits: Limits = Limits(), *, existing: bool = False) -> str:
    """Unpacks ``archive`` into ``tmp_path/area/staging``, expects a PackageError matching ``match``, and checks
    that nothing under tmp_path changed: no file outside staging, staging absent (or empty, if it existed)."""
    staging = tmp_path / "area" / "staging"
    staging.mkdir(parents=True, exist_ok=True) if existing else (tmp_path / "area").mkdir(exist_ok=True)
    before = tree(tmp_path)
    with pytest.raises(PackageError, match=match) as caught:
        unpack(archive, staging, limits=limits)
    assert tree(tmp_path) == before
    assert staging.is_dir() == existing
    assert str(archive) in str(caught.value)
    return str(caught.value)


# ---- what is accepted -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_at_the_root(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(fmt, tmp_path / "a", [file("manifest.json", MANIFEST_BYTES), file("data/x.txt", "x")])
    root = unpack(archive, tmp_path / "staging")
    assert root == tmp_path / "staging"
    assert (root / "manifest.json").read_bytes() == MANIFEST_BYTES and (root / "data/x.txt").read_text() == "x"


@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_in_a_single_top_folder_of_any_name(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(fmt, tmp_path / "a", [Member("my plugin", kind=tarfile.DIRTYPE),
                                                 file("my plugin/manifest.json", MANIFEST_BYTES)])
    assert unpack(archive, tmp_path / "staging") == tmp_path / "staging" / "my plugin"


def test_dot_slash_names_from_tar_c_folder_dot_are_accepted(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", [Member(".", kind=tarfile.DIRTYPE), file("./manifest.json", MANIFEST_BYTES),
                                            Member("./data", kind=tarfile.DIRTYPE), file("./data/x", "x")])
    root = unpack(archive, tmp_path / "staging")
    assert tree(root) == ["data", "data/x", "manifest.json"]


def test_format_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [file("manifest.json", MANIFEST_BYTES)])
    misnamed = archive.rename(tmp_path / "a.tar.gz")
    assert (unpack(misnamed, tmp_path / "staging") / "manifest.json").is_file()


def test_an_existing_empty_staging_folder_is_used(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", [file("manifest.json", MANIFEST_BYTES)])
    (tmp_path / "staging").mkdir()
    assert unpack(archive, tmp_path / "staging") == tmp_path / "staging"


@pytest.mark.parametrize("fmt", FORMATS)
def test_modes_and_owners_come_from_us_not_the_archive(tmp_path: Path, fmt: str) -> None:
    archive = make_archive(fmt, tmp_path / "a", [file("manifest.json", MANIFEST_BYTES, mode=0o600),
                                                 file("run.sh", "#!/bin/sh", mode=0o4777),
                                                 file("public.txt", "x", mode=0o666)])
    root = unpack(archive, tmp_path / "staging")
    modes = {p.name: p.stat().st_mode & 0o7777 for p in root.iterdir()}
    assert modes == {"manifest.json": 0o644, "run.sh": 0o755, "public.txt": 0o644}
    assert {p.stat().st_uid for p in root.iterdir()} == {os.getuid()}


def test_a_small_archive_of_repetitive_text_is_not_a_bomb(tmp_path: Path) -> None:
    blank = b" " * 200_000
    archive = make_zip(tmp_path / "a.zip", [file("manifest.json", MANIFEST_BYTES), file("blank.css", blank)])
    assert len(blank) / archive.stat().st_size > 100  # over the ratio, but under the 1 MiB grace
    assert (unpack(archive, tmp_path / "staging") / "blank.css").read_bytes() == blank


# ---- what is refused, from the headers alone --------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "message"), [
    ("../evil", "escapes the package folder"),
    ("p/../../evil", "escapes the package folder"),
    ("/etc/x", "absolute path"),
    ("C:/evil", "absolute path"),
    ("p\\..\\..\\evil", "backslash"),
    ("p//x", "empty or '.' parts"),
    ("p/./x", "empty or '.' parts"),
    ("p/\x1bx", "control characters"),
])
def test_entries_escaping_the_folder_are_refused(tmp_path: Path, fmt: str, name: str, message: str) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), file(name, "evil")]
    text = refused(make_archive(fmt, tmp_path / "a", members), tmp_path, message)
    assert repr(name) in text and "do not install it" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_symlink_entry_is_refused(tmp_path: Path, fmt: str) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), Member("p/passwd", kind=tarfile.SYMTYPE, link="/etc/passwd")]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "'p/passwd': is a symbolic link")


def test_a_hard_link_entry_is_refused(tmp_path: Path) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), Member("p/h", kind=tarfile.LNKTYPE, link="/etc/passwd")]
    refused(make_tar(tmp_path / "a.tgz", members), tmp_path, "'p/h': is a hard link")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE])
def test_device_and_fifo_entries_are_refused(tmp_path: Path, fmt: str, kind: bytes) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), Member("p/dev", kind=kind)]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "'p/dev': is a device file, FIFO")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("second", ["p/a.js", "p/A.js"])
def test_duplicate_entries_are_refused(tmp_path: Path, fmt: str, second: str) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), file("p/a.js", "1"), file(second, "2")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it is told to write
        archive = make_archive(fmt, tmp_path / "a", members)
    refused(archive, tmp_path, "appears twice")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_file_that_is_also_a_folder_is_refused(tmp_path: Path, fmt: str) -> None:
    members = [file("p/manifest.json", MANIFEST_BYTES), file("p/data", "1"), file("p/data/x", "2")]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "lies inside 'p/data', a file")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("members", [
    [file("a/manifest.json", MANIFEST_BYTES), file("b/x")],  # two top folders
    [file("a/b/manifest.json", MANIFEST_BYTES)],  # too deep
    [file("a/x"), file("README")],  # no manifest at all
    [Member("manifest.json", kind=tarfile.DIRTYPE)],  # a folder is not a manifest
])
def test_an_archive_without_a_findable_manifest_is_refused(tmp_path: Path, fmt: str, members: list[Member]) -> None:
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, r"no manifest\.json at the archive's root")


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_entries_are_refused(tmp_path: Path, fmt: str) -> None:
    members = [file("manifest.json", MANIFEST_BYTES)] + [file(f"f{i}") for i in range(5)]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "more than 5 entries", Limits(max_files=5))


def test_the_default_entry_limit_is_ten_thousand(tmp_path: Path) -> None:
    members = [file("manifest.json", MANIFEST_BYTES)] + [file(f"f{i}", b"") for i in range(10_000)]
    refused(make_zip(tmp_path / "a.zip", members), tmp_path, "more than 10000 entries")


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_bytes_in_total_are_refused(tmp_path: Path, fmt: str) -> None:
    members = [file("manifest.json", MANIFEST_BYTES), file("a", os.urandom(600)), file("b", os.urandom(600))]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "more than 1000 bytes uncompressed \\(at 'b'\\)",
            Limits(max_bytes=1000))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_single_file_over_its_limit_is_refused(tmp_path: Path, fmt: str) -> None:
    members = [file("manifest.json", MANIFEST_BYTES), file("big", os.urandom(600))]
    refused(make_archive(fmt, tmp_path / "a", members), tmp_path, "'big': 600 bytes is over the 500-byte limit",
            Limits(max_file_bytes=500))


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", MANIFEST_BYTES)
        with zf.open("zeros.bin", "w") as out:
            for _ in range(200):
                out.write(bytes(MiB))
    assert archive.stat().st_size < 2 * MiB
    refused(archive, tmp_path, r"'zeros.bin': the archive inflates \d+x \(limit 100x\)")


def test_a_tar_gz_bomb_is_refused_by_its_ratio_before_inflating_it(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tgz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.addfile(tarfile.TarInfo("manifest.json"), io.BytesIO(b""))
        info = tarfile.TarInfo("zeros.bin")
        info.size = 200 * MiB
        tf.addfile(info, Zeros(info.size))
    refused(archive, tmp_path, r"'zeros.bin': the archive inflates \d+x \(limit 100x\)")


def test_a_gzip_stream_inflating_past_the_limits_without_a_file_is_refused(tmp_path: Path) -> None:
    # A 200 KB pax record is not a file, so no declared size can stop it: only the bound on the stream does.
    archive = make_tar(tmp_path / "a.tgz", [file("manifest.json", MANIFEST_BYTES)], comment="x" * 200_000)
    refused(archive, tmp_path, "gzip stream inflates past", Limits(max_bytes=1000, max_files=2))


@pytest.mark.parametrize(("content", "message"), [
    (b"just some text", "neither a zip nor a gzip file"),
    (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"garbage", "cannot read the archive"),
    (b"PK\x03\x04" + b"\0" * 40, "cannot read the archive"),
])
def test_anything_but_a_zip_or_tar_gz_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    archive = tmp_path / "x.zip"
    archive.write_bytes(content)
    refused(archive, tmp_path, message)


def test_a_gzip_that_is_not_a_tar_is_refused(tmp_path: Path) -> None:
    import gzip
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(gzip.compress(b"hello, not a tar" * 100))
    refused(archive, tmp_path, "cannot read the archive")


def test_a_missing_archive_or_a_busy_staging_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no such file"):
        unpack(tmp_path / "missing.zip", tmp_path / "staging")
    archive = make_zip(tmp_path / "a.zip", [file("manifest.json", MANIFEST_BYTES)])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep").write_text("mine")
    with pytest.raises(PackageError, match="staging folder is not empty"):
        unpack(archive, tmp_path / "busy")
    assert tree(tmp_path / "busy") == ["keep"]


# ---- what is refused midway, while extracting -----------------------------------------------------------------

@pytest.mark.parametrize("existing", [False, True])
def test_a_zip_lying_about_its_sizes_is_refused_and_staging_emptied(tmp_path: Path, existing: bool) -> None:
    archive = make_zip(tmp_path / "a.zip", [file("p/manifest.json", MANIFEST_BYTES), file("p/ok.txt", "fine"),
                                           file("p/zeros.bin", bytes(50 * MiB))])
    forge_zip_size(archive, "p/zeros.bin", 1000)  # declares 1000 bytes: passes every header check
    refused(archive, tmp_path, "cannot read the archive .*Bad CRC-32", existing=existing)


def test_a_stream_longer_than_its_declared_size_is_cut_off() -> None:
    from aiplugs.adapters.packages._entries import Entry
    from aiplugs.adapters.packages.archive import _copy

    written: list[bytes] = []
    with pytest.raises(PackageError, match="holds more than the 10 bytes its header declares"):
        _copy(Path("a.zip"), Entry("x", "file", 10, False), io.BytesIO(bytes(5 * MiB)), written.append)
    assert sum(map(len, written)) <= 10
    with pytest.raises(PackageError, match="holds 3 bytes, not the 10"):
        _copy(Path("a.zip"), Entry("x", "file", 10, False), io.BytesIO(b"abc"), written.append)


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_archive_changed_between_checking_and_extracting_is_refused(tmp_path: Path, fmt: str) -> None:
    from aiplugs.adapters.packages._formats import files_of, scan

    archive = make_archive(fmt, tmp_path / "a", [file("manifest.json", MANIFEST_BYTES), file("a.js", "small")])
    listing = scan(archive, Limits())
    make_archive(fmt, tmp_path / "a", [file("manifest.json", MANIFEST_BYTES), file("a.js", os.urandom(5000))])
    with pytest.raises(PackageError, match="'a.js' changed while the archive was being read"):
        for _, stream in files_of(listing, Limits()):
            stream.read()
