"""Non-HTTP sources through fsspec: plain paths, file://, memory:// and s3:// on moto's server."""

from __future__ import annotations

import uuid

import fsspec
import pytest

from aiplugs.adapters.models import ModelError, ModelStore
from aiplugs.adapters.models._fetch import options_for, protocol_of

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
