"""Inspecting a package before it is installed: what its manifest asks for, read from real archives (built with
pack from the repository's plugins, or by hand), fetched from paths, folders, HTTP and S3 (moto's server)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiplugs.adapters.packages import (Inspection, PackageError, PackageMismatch, PackageStore, inspect_archive,
                                       inspect_kept, inspect_source, pack)

from .conftest import file, make_zip

SHA = "ab" * 32
BROAD = {
    "manifest_version": 3, "id": "reader", "name": "Reader", "version": "2.1.0", "description": "reads everything",
    "dependencies": ["word-count", {"id": "sentiment", "version": ">=1.2"}],
    "update_url": "https://updates.example/reader/index.json",
    "inference": {"default_mode": "local", "local_entry": "backend.py", "models": [
        {"key": "EMBEDDINGS", "filename": "embed.bin", "source_url": "https://user:pw@models.example/embed.bin",
         "sha256": SHA, "size": 3 * 1024 * 1024},
        {"key": "VOCAB", "filename": "vocab.txt", "source_url": "data/vocab.txt", "sha256": SHA, "size": 512}]},
    "python": {"requirements": ["numpy>=1.26", "tokenizers==0.19.1"]},
    "content_scripts": [{"matches": ["<all_urls>"], "js": ["content.js"]},
                        {"matches": ["https://docs.example/*"], "css": ["c.css"]}],
}


def write_folder(root: Path, manifest: dict) -> Path:
    root.mkdir(parents=True)
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name in ("backend.py", "content.js", "c.css"):
        (root / name).write_text("# x\n", encoding="utf-8")
    return root


def test_word_count_as_pack_builds_it(plugin, tmp_path: Path) -> None:
    packed = pack(plugin("word-count"), tmp_path)
    seen = inspect_archive(packed.path)
    assert (seen.plugin_id, seen.name, seen.version, seen.mode) == ("word-count", "Word count", "1.0.0", "local")
    assert (seen.sha256, seen.size) == (packed.sha256, packed.size)
    assert seen.hosts == ("*.wikipedia.org", "localhost", "127.0.0.1")
    assert not seen.decrypts_all and seen.models == () and seen.requirements == () and seen.problems == ()
    text = seen.permissions()
    assert "sees pages on:    *.wikipedia.org, localhost, 127.0.0.1" in text
    assert "only the hosts above" in text and "EVERY" not in text
    assert "models:           none" in text and "python packages:  none" in text
    assert "word-count 1.0.0 — Word count" in seen.to_text()


def test_a_broad_manifest_says_so(tmp_path: Path) -> None:
    packed = pack(write_folder(tmp_path / "reader", BROAD), tmp_path)
    seen = inspect_archive(packed.path, source="https://pkgs.example/reader.zip")
    assert seen.decrypts_all and seen.hosts == ("*", "docs.example")
    assert seen.matches == ("<all_urls>", "https://docs.example/*")
    assert [(m.filename, m.size) for m in seen.models] == [("embed.bin", 3 * 1024 * 1024), ("vocab.txt", 512)]
    assert seen.models_size == 3 * 1024 * 1024 + 512
    assert seen.requirements == ("numpy>=1.26", "tokenizers==0.19.1")
    assert seen.dependencies == ("word-count", "sentiment>=1.2") and seen.update_url == BROAD["update_url"]
    text = seen.permissions()
    assert "EVERY HTTPS SITE" in text and "<all_urls>" in text
    assert "embed.bin (3.0 MiB) from https://" in text and "pw@" not in text  # credentials never shown
    assert "vocab.txt (512 B)" in text and "3.0 MiB in all" in text
    assert "numpy>=1.26" in text and "tokenizers==0.19.1" in text
    data = seen.to_dict()
    assert data["decrypts_all_hosts"] is True and data["valid"] is True
    assert data["python_requirements"] == ["numpy>=1.26", "tokenizers==0.19.1"]
    assert data["models"][0]["size"] == 3 * 1024 * 1024 and "pw@" not in json.dumps(data["models"])
    json.dumps(data)  # all of it serialisable


@pytest.mark.parametrize("pattern", ["*://*/*", "https://*/*"])
def test_every_all_hosts_pattern_counts(tmp_path: Path, pattern: str) -> None:
    manifest = {**BROAD, "content_scripts": [{"matches": [pattern], "js": ["content.js"]}]}
    seen = inspect_archive(pack(write_folder(tmp_path / "r", manifest), tmp_path).path)
    assert seen.decrypts_all and seen.hosts == ("*",)


def test_a_broken_manifest_is_shown_with_its_problems(tmp_path: Path) -> None:
    broken = {**BROAD, "manifest_version": 2, "python": {"requirements": ["not a requirement!!"]}}
    archive = make_zip(tmp_path / "broken.zip", [file("manifest.json", json.dumps(broken))])
    seen = inspect_archive(archive)
    assert seen.problems and any("manifest_version" in p for p in seen.problems)
    assert any("not a requirement" in p for p in seen.problems)
    assert seen.decrypts_all and seen.plugin_id == "reader"  # still shows what it asks for
    assert "cannot be installed" in seen.to_text() and seen.to_dict()["valid"] is False


def test_inspection_is_frozen_and_hashable(plugin, tmp_path: Path) -> None:
    seen = inspect_archive(pack(plugin("word-count"), tmp_path).path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen.version = "9"  # type: ignore[misc]
    assert hash(seen) == hash(dataclasses.replace(seen)) and isinstance(seen, Inspection)


def test_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"hello")
    with pytest.raises(PackageError, match="neither a zip nor a gzip"):
        inspect_archive(tmp_path / "x.zip")


# ---- fetching ------------------------------------------------------------------------------------------------

def leftovers(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir()) if work.exists() else []


def test_inspect_source_from_a_path_and_a_folder_leaves_nothing(plugin, tmp_path: Path) -> None:
    folder = plugin("word-count")
    packed = pack(folder, tmp_path)
    work = tmp_path / "state"
    by_path = asyncio.run(inspect_source(str(packed.path), work_dir=work))
    by_folder = asyncio.run(inspect_source(str(folder), work_dir=work, sha256=packed.sha256))
    assert by_path.sha256 == by_folder.sha256 == packed.sha256  # a folder is packed reproducibly first
    assert by_path.source == str(packed.path)
    assert leftovers(work) == []


def test_inspect_source_verifies_a_given_sha256(plugin, tmp_path: Path) -> None:
    packed = pack(plugin("word-count"), tmp_path)
    work = tmp_path / "state"
    with pytest.raises(PackageMismatch) as caught:
        asyncio.run(inspect_source(str(packed.path), work_dir=work, sha256="0" * 64))
    assert caught.value.actual == packed.sha256
    assert leftovers(work) == []


@pytest.fixture
def http_dir(tmp_path: Path):
    served = tmp_path / "www"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _Quiet(SimpleHTTPRequestHandler):
    hits: list[str] = []  # the paths asked for, of every server of the test run (tests clear it)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        _Quiet.hits.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


def test_inspect_source_over_http(plugin, http_dir, tmp_path: Path) -> None:
    served, base = http_dir
    packed = pack(plugin("word-count"), served)
    work = tmp_path / "state"
    seen = asyncio.run(inspect_source(f"{base}/{packed.path.name}", work_dir=work))
    assert seen.sha256 == hashlib.sha256(packed.path.read_bytes()).hexdigest()
    assert seen.plugin_id == "word-count" and leftovers(work) == []
    with pytest.raises(PackageError, match="404"):
        asyncio.run(inspect_source(f"{base}/absent.zip", work_dir=work))
    assert leftovers(work) == []


def test_inspect_source_from_s3(plugin, s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fsspec

    packed = pack(plugin("word-count"), tmp_path)
    options = {"client_kwargs": {"endpoint_url": s3}}
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
    fs.mkdir("pkgs")
    fs.put(str(packed.path), "pkgs/word-count-1.0.0.zip")
    work = tmp_path / "state"
    url = "s3://pkgs/word-count-1.0.0.zip"
    seen = asyncio.run(inspect_source(url, work_dir=work, storage_options={"s3": options}))
    assert (seen.sha256, seen.source) == (packed.sha256, url)
    # the way a CLI (and the daemon it starts) reaches the same server: the standard AWS environment variable
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)
    assert asyncio.run(inspect_source(url, work_dir=work, sha256=packed.sha256)).plugin_id == "word-count"
    assert leftovers(work) == []


def test_inspect_kept_leaves_the_download_for_the_install_that_follows(plugin, http_dir, tmp_path: Path) -> None:
    served, base = http_dir
    packed = pack(plugin("word-count"), served)
    url = f"{base}/{packed.path.name}"
    store = PackageStore(tmp_path / "state")
    _Quiet.hits.clear()
    seen = asyncio.run(inspect_kept(store, url))
    assert seen.plugin_id == "word-count" and seen.sha256 == packed.sha256 and not seen.problems
    assert sorted(p.name for p in store.downloads.iterdir() if not p.name.startswith(".")) == ["word-count.pkg"]
    # the install asks for what the person saw: found verified, not fetched again
    installed = asyncio.run(store.install("word-count", url, seen.sha256))
    assert installed.sha256 == packed.sha256 and installed.path.is_dir()
    assert _Quiet.hits == [f"/{packed.path.name}"]


def test_inspect_kept_drops_what_no_install_would_take(http_dir, tmp_path: Path) -> None:
    served, base = http_dir
    broken = {**BROAD, "manifest_version": 2}
    make_zip(served / "broken.zip", [file("manifest.json", json.dumps(broken))])
    store = PackageStore(tmp_path / "state")
    seen = asyncio.run(inspect_kept(store, f"{base}/broken.zip"))
    assert seen.problems and seen.plugin_id == "reader"
    assert not [p for p in store.downloads.iterdir() if not p.name.startswith(".")]
    with pytest.raises(PackageError) as caught:
        asyncio.run(inspect_kept(store, f"{base}/absent.zip"))
    assert "404" in str(caught.value) and "_inspect" not in str(caught.value)  # the stand-in name stays inside
    with pytest.raises(PackageError, match="expected 0000"):
        asyncio.run(inspect_kept(store, f"{base}/broken.zip", sha256="0" * 64))
    assert not [p for p in store.downloads.iterdir() if not p.name.startswith(".")]
