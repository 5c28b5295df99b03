"""PackageStore for real: packages fetched from a folder, a local HTTP origin and moto's S3, verified, unpacked
side by side by version, pruned, and removed; a mismatch names both hashes; nothing leaks into state.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import web

from aiplugs.adapters.packages import PackageError, PackageMismatch, pack
from aiplugs.adapters.packages.store import PackageStore
from aiplugs.declaration.packages import MARKER, installed_packages

from ..proxy.servers import start_app


def bump(folder: Path, version: str) -> Path:
    manifest = folder / "manifest.json"
    data = json.loads(manifest.read_text())
    data["version"] = version
    manifest.write_text(json.dumps(data, indent=2))
    return folder


@pytest.fixture
async def origin(tmp_path: Path):
    """Serves the files of ``tmp_path/www`` over HTTP on loopback."""
    www = tmp_path / "www"
    www.mkdir()
    app = web.Application()
    app.router.add_static("/", www)
    server = await start_app(app)
    yield www, server.url
    await server.close()


async def test_install_from_http_verifies_unpacks_and_keeps_versions_side_by_side(plugin, origin, tmp_path: Path
                                                                                   ) -> None:
    www, base = origin
    folder = plugin("word-count")
    first = pack(folder, www)
    state = tmp_path / "state"
    store = PackageStore(state)
    seen: list[tuple[int, int | None]] = []
    installed = await store.install("word-count", f"{base}/{first.path.name}", first.sha256,
                                    on_bytes=lambda done, total: seen.append((done, total)))
    assert (installed.version, installed.sha256, installed.size) == ("1.0.0", first.sha256, first.size)
    assert (installed.path / "manifest.json").is_file() and (installed.path / MARKER).is_file()
    assert installed.path.name == f"1.0.0-{first.sha256[:12]}"
    assert seen and seen[-1][0] == first.size
    # the same content again is that install; a new version sits beside it, and one previous version is kept
    assert await store.install("word-count", f"{base}/{first.path.name}", first.sha256) == installed
    second = pack(bump(folder, "1.1.0"), www)
    await store.install("word-count", f"{base}/{second.path.name}", second.sha256)
    third = pack(bump(folder, "1.2.0"), www)
    await store.install("word-count", f"{base}/{third.path.name}", third.sha256)
    assert [p.version for p in installed_packages(state, "word-count")] == ["1.1.0", "1.2.0"]
    # packages are not models: state.json (the models' records) does not list them
    state_json = state / "state.json"
    assert not state_json.exists() or "word-count" not in json.loads(state_json.read_text()).get("models", {})
    store.remove("word-count")
    assert installed_packages(state, "word-count") == []
    assert not (state / "packages" / "word-count").exists()
    assert list((state / "packages" / ".downloads").glob("word-count*")) == []


async def test_a_mismatch_names_both_hashes_and_installs_nothing(plugin, origin, tmp_path: Path) -> None:
    www, base = origin
    packed = pack(plugin("word-count"), www)
    store = PackageStore(tmp_path / "state")
    with pytest.raises(PackageMismatch) as caught:
        await store.install("word-count", f"{base}/{packed.path.name}", "0" * 64)
    assert (caught.value.expected, caught.value.actual) == ("0" * 64, packed.sha256)
    assert str(caught.value) == (f"word-count: {base}/{packed.path.name} has sha256 {packed.sha256}, "
                                 f"expected {'0' * 64}")
    assert installed_packages(tmp_path / "state") == []


async def test_a_package_whose_manifest_names_another_plugin_is_refused(plugin, origin, tmp_path: Path) -> None:
    www, base = origin
    packed = pack(plugin("word-count"), www)
    store = PackageStore(tmp_path / "state")
    with pytest.raises(PackageError, match="sentiment"):
        await store.install("sentiment", f"{base}/{packed.path.name}", packed.sha256)
    assert installed_packages(tmp_path / "state") == []
    assert [p.name for p in (tmp_path / "state" / "packages" / "sentiment").iterdir()] == []  # no staging left


async def test_unreachable_source_is_a_clear_error(tmp_path: Path, origin) -> None:
    _, base = origin
    store = PackageStore(tmp_path / "state")
    with pytest.raises(PackageError, match="404"):
        await store.install("word-count", f"{base}/absent.zip", None)


async def test_install_from_a_folder_and_from_s3(plugin, s3: str, tmp_path: Path) -> None:
    import fsspec

    folder = plugin("word-count")
    state = tmp_path / "state"
    from_folder = await PackageStore(state).install("word-count", str(folder), None)  # trust on first use
    packed = pack(folder, tmp_path)
    assert from_folder.sha256 == packed.sha256  # a folder is packed reproducibly: the same hash as `pack`
    options = {"client_kwargs": {"endpoint_url": s3}}
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir("store-pkgs")  # moto keeps buckets per process: a name of this test's own
    fs.put(str(packed.path), "store-pkgs/word-count.zip")
    other = tmp_path / "state2"
    store = PackageStore(other, storage_options={"s3": options})
    from_s3 = await store.install("word-count", "s3://store-pkgs/word-count.zip", packed.sha256)
    assert (from_s3.version, from_s3.sha256) == ("1.0.0", packed.sha256)
    assert (from_s3.path / "backend.py").read_bytes() == (folder / "backend.py").read_bytes()
