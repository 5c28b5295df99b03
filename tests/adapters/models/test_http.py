"""HTTP transfer details against the real origin: resume, 200-instead-of-206, redirects and credentials, stalls."""

from __future__ import annotations

import base64

import pytest

from aiplugs.adapters.models import ModelError, ModelStore

from .conftest import provision, blob, spec


async def test_resume_after_drop_fetches_only_missing_bytes(origin, dirs):
    models, state = dirs
    data = blob(1_000_000)
    model = spec(models, origin.serve("/m.bin", data, drops=[300_000]), data)
    path = await provision(ModelStore(models, state), model)
    assert path.read_bytes() == data
    hits = origin.hits("/m.bin")
    assert len(hits) == 2
    assert "Range" not in hits[0]["headers"]
    assert hits[1]["headers"]["Range"] == "bytes=300000-"
    assert hits[1]["headers"]["If-Range"] == '"v1"'
    assert origin.bytes_sent == len(data)  # nothing fetched twice


async def test_resume_across_several_drops(origin, dirs):
    models, state = dirs
    data = blob(600_000)
    model = spec(models, origin.serve("/m.bin", data, drops=[100_000, 100_000, 100_000]), data)
    path = await provision(ModelStore(models, state), model)
    assert path.read_bytes() == data and origin.bytes_sent == len(data)
    assert [h["headers"].get("Range") for h in origin.hits("/m.bin")] == [
        None, "bytes=100000-", "bytes=200000-", "bytes=300000-"]


async def test_200_instead_of_206_restarts_cleanly(origin, dirs):
    models, state = dirs
    data = blob(500_000)
    model = spec(models, origin.serve("/m.bin", data, ranges=False, drops=[200_000]), data)
    path = await provision(ModelStore(models, state), model)
    assert path.read_bytes() == data
    hits = origin.hits("/m.bin")
    assert len(hits) == 2 and hits[1]["headers"]["Range"] == "bytes=200000-"
    assert origin.bytes_sent == 200_000 + len(data)


async def test_redirect_to_another_host_drops_credentials(origin, origin2, dirs):
    models, state = dirs
    data = blob(20_000)
    target = origin2.serve("/real.bin", data)
    origin.redirect("/m.bin", target)
    url = f"http://alice:s3cret@127.0.0.1:{origin.port}/m.bin"
    store = ModelStore(models, state, storage_options={"http": {"headers": {"X-Api": "1",
                                                                            "Cookie": "session=abc"}}})
    await provision(store, spec(models, url, data))
    first = origin.hits("/m.bin")[0]["headers"]
    assert first["Authorization"] == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert first["Cookie"] == "session=abc"
    moved = origin2.hits("/real.bin")[0]["headers"]
    assert "Authorization" not in moved and "Cookie" not in moved and "X-Api" not in moved


async def test_same_origin_redirect_keeps_credentials(origin, dirs):
    models, state = dirs
    data = blob(20_000)
    auth = "Bearer tok"
    origin.serve("/real.bin", data, auth=auth)
    origin.redirect("/m.bin", "/real.bin")
    store = ModelStore(models, state, storage_options={"http": {"headers": {"Authorization": auth}}})
    path = await provision(store, spec(models, origin.url("/m.bin"), data))
    assert path.read_bytes() == data
    assert origin.hits("/real.bin")[0]["headers"]["Authorization"] == auth


async def test_credentials_never_appear_in_errors(origin, dirs):
    models, state = dirs
    url = f"http://alice:s3cret@127.0.0.1:{origin.port}/missing.bin"
    with pytest.raises(ModelError) as err:
        await provision(ModelStore(models, state), spec(models, url, b"x"))
    assert "s3cret" not in str(err.value) and "404" in str(err.value)


async def test_stall_timeout_ends_hung_transfer_and_resumes(origin, dirs):
    models, state = dirs
    data = blob(300_000)
    model = spec(models, origin.serve("/m.bin", data, stalls=[100_000]), data)
    path = await provision(ModelStore(models, state, stall_timeout=0.5), model)
    assert path.read_bytes() == data
    assert origin.hits("/m.bin")[1]["headers"]["Range"] == "bytes=100000-"


async def test_persistent_stall_fails_with_clear_message(origin, dirs):
    models, state = dirs
    data = blob(300_000)
    model = spec(models, origin.serve("/m.bin", data, stalls=[0, 0, 0]), data)
    with pytest.raises(ModelError, match="failed after 2 retries \\(stalled\\)"):
        await provision(ModelStore(models, state, stall_timeout=0.3, retries=2), model)
    assert not (models / "model.bin").exists()
    assert not [p for p in models.iterdir() if p.name.endswith(".part")]


async def test_source_changed_between_attempts_restarts_via_if_range(origin, dirs):
    models, state = dirs
    old, new = blob(300_000, 1), blob(300_000, 2)
    origin.serve("/m.bin", old, drops=[100_000], swap=(new, '"v2"'))
    path = await provision(ModelStore(models, state), spec(models, origin.url("/m.bin"), new))
    assert path.read_bytes() == new
    hits = origin.hits("/m.bin")
    assert hits[1]["headers"]["If-Range"] == '"v1"'  # stale validator: the origin answered 200 with v2
    assert origin.bytes_sent == 100_000 + len(new)
