"""Non-HTTP sources: plain paths and file:// read with open (as fsspec's local filesystem reads them, same errors),
memory:// and s3:// (on moto's server) through fsspec."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from typing import Any

import fsspec
import pytest

from aiplugs.adapters.models import ModelError, ModelStore
from aiplugs.adapters.models._fetch import LocalFiles, _filesystem, local_path, options_for, protocol_of

from .conftest import provision, blob, spec


async def test_plain_absolute_path(tmp_path, dirs):
    models, state = dirs
    data = blob(5_000_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    path = await provision(ModelStore(models, state), spec(models, str(src), data))
    assert path.read_bytes() == data


async def test_file_url(tmp_path, dirs):
    models, state = dirs
    data = blob(10_000)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    path = await provision(ModelStore(models, state), spec(models, src.as_uri(), data))
    assert path.read_bytes() == data


async def test_missing_local_source_names_it(tmp_path, dirs):
    models, state = dirs
    with pytest.raises(ModelError, match="cannot read .*nope.bin"):
        await provision(ModelStore(models, state), spec(models, str(tmp_path / "nope.bin"), b"x"))


async def test_memory_url(dirs):
    models, state = dirs
    data = blob(100_000)
    name = f"/aiplugs-test-{uuid.uuid4().hex}/m.bin"
    fs = fsspec.filesystem("memory")
    fs.pipe(name, data)
    try:
        path = await provision(ModelStore(models, state), spec(models, f"memory://{name}", data))
        assert path.read_bytes() == data
        with pytest.raises(ModelError, match="sha256 mismatch"):
            await provision(ModelStore(models, state), spec(models, f"memory://{name}", data, filename="other.bin",
                                                       sha256="0" * 64))
        assert not (models / "other.bin").exists()
    finally:
        fs.rm(name)


async def test_local_size_mismatch(tmp_path, dirs):
    models, state = dirs
    src = tmp_path / "src.bin"
    src.write_bytes(b"12345")
    with pytest.raises(ModelError, match="is 5 bytes but the manifest declares size 4"):
        await provision(ModelStore(models, state), spec(models, str(src), b"12345", size=4))


async def test_s3_on_moto_server(s3, dirs):
    models, state = dirs
    data = blob(3_000_000)
    opts = {"client_kwargs": {"endpoint_url": s3}}
    fs = fsspec.filesystem("s3", skip_instance_cache=True, **opts)
    fs.mkdir("models-bucket")
    fs.pipe("models-bucket/dir/m.bin", data)
    store = ModelStore(models, state, storage_options={"s3": opts})
    path = await provision(store, spec(models, "s3://models-bucket/dir/m.bin", data))
    assert path.read_bytes() == data
    with pytest.raises(ModelError, match="cannot read s3://models-bucket/dir/absent.bin"):
        await provision(store, spec(models, "s3://models-bucket/dir/absent.bin", data, filename="absent.bin"))


def test_protocol_and_options():
    assert protocol_of("/abs/path") == "file"
    assert protocol_of("S3://b/k") == "s3"
    assert protocol_of("simplecache::s3://b/k") == "s3"
    assert options_for("https", {"http": {"headers": {"a": "b"}}}) == {"headers": {"a": "b"}}
    assert options_for("s3", None) == {}


def test_local_paths_are_the_ones_fsspec_reads(tmp_path):
    for url in ("/abs/m.bin", "file:///abs/m.bin", "/abs/dir/", "file:///", "/a b/%20.bin"):
        assert local_path(url) == fsspec.core.url_to_fs(url)[1], url
    for url in ("rel/m.bin", "~/m.bin", "file://rel/m.bin", "FILE:///m.bin", "memory:///m.bin", "s3://b/k",
                "simplecache::file:///m.bin", "data:text/plain,x", "/a/b://c"):
        assert local_path(url) is None, url
    fs, path = _filesystem(str(tmp_path / "m.bin"), {"auto_mkdir": True}, "shown")  # options: fsspec's to apply
    assert not isinstance(fs, LocalFiles) and path == str(tmp_path / "m.bin")


def test_local_reads_fail_as_fsspecs_do(tmp_path):
    """The size and the opening of a missing file, a folder or a dangling symlink fail with fsspec's own message."""
    local = fsspec.filesystem("file")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")

    def outcome(call: Any, *args: Any) -> str:
        try:
            found = call(*args)
        except OSError as e:
            return f"{type(e).__name__}: {e}"
        if hasattr(found, "close"):
            found.close()
            return "opened"
        return repr(found)

    for name in ("absent.bin", "dir", "dangling"):
        path = str(tmp_path / name)
        assert outcome(LocalFiles().size, path) == outcome(local.size, path), name
        assert outcome(LocalFiles().open, path, "rb") == outcome(local.open, path, "rb"), name


def test_a_local_source_is_read_without_fsspec(tmp_path):
    """The whole pull of a local model, in a fresh interpreter: fsspec never loads."""
    data = b"x" * 1000
    (tmp_path / "src.bin").write_bytes(data)
    code = textwrap.dedent(f"""
        import asyncio, hashlib, sys
        from pathlib import Path
        from aiplugs.adapters.models import ModelStore
        from aiplugs.plan import ModelSpec
        from aiplugs.runtime.models import pull
        root = Path({str(tmp_path)!r})
        (root / "models").mkdir(); (root / "state").mkdir()
        spec = ModelSpec(filename="m.bin", url=(root / "src.bin").as_uri(), sha256=hashlib.sha256({data!r}).hexdigest(),
                         size={len(data)}, path=root / "models" / "m.bin", keys=("MODEL",), used_by=("p",), lazy=False)
        asyncio.run(pull(ModelStore(root / "models", root / "state"), [spec]))
        assert (root / "models" / "m.bin").read_bytes() == {data!r}
        print("fsspec" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
