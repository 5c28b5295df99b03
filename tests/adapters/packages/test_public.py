"""The curated public face of aiplugs.adapters.packages."""

from __future__ import annotations

import dataclasses

import pytest

import aiplugs.adapters.packages as packages
from aiplugs.errors import AiplugsError


def test_all_is_sorted_and_importable() -> None:
    assert packages.__all__ == sorted(packages.__all__)
    assert set(packages.__all__) == {"Fetched", "Inspection", "Limits", "ModelInfo", "PackageError", "PackageMismatch",
                                     "PackageStore", "Packed", "Release", "UpdateCheck", "check_update", "fetch_index",
                                     "inspect_archive", "inspect_kept", "inspect_source", "newest", "pack", "parse_index",
                                     "read_checks", "read_manifest", "sha256_file", "unpack", "write_checks"}
    for name in packages.__all__:
        assert hasattr(packages, name)


def test_errors_and_limits() -> None:
    assert issubclass(packages.PackageError, AiplugsError)
    limits = packages.Limits()
    assert (limits.max_bytes, limits.max_file_bytes, limits.max_files, limits.max_ratio) == (
        256 * 1024 * 1024, 128 * 1024 * 1024, 10_000, 100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_files = 1  # type: ignore[misc]


def test_sha256_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "f").write_bytes(b"abc")
    assert packages.sha256_file(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
