"""ModelStore download/status/verify, and the plan-driven pull, against real files and a real HTTP origin."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

import pytest

from aiplugs.events import EventBus
from aiplugs.adapters.models import ModelError, ModelStore
from aiplugs.store.state import read_state

from aiplugs.runtime.models import pull

from .conftest import blob, provision, spec


class CountingStore(ModelStore):
    """Counts every byte verification reads, through the store's own hashing hook (real file reads)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hash_reads = 0

    def _open_for_hash(self, path: Path):
        store = self

        class Counting(io.FileIO):
            def readinto(self, b):  # noqa: ANN001
                n = super().readinto(b)
                store.hash_reads += n or 0
                return n

        return Counting(path, "rb")


async def test_download_publishes_verified_file_and_records_it(origin, dirs):
    models, state = dirs
    data = blob(300_000)
    model = spec(models, origin.serve("/m.bin", data), data)
    store = ModelStore(models, state)
    assert store.status(model) == "missing"
    path = await provision(store, model)
    assert path == models / "model.bin" and path.is_absolute()
    assert path.read_bytes() == data
    record = read_state(state).models["model.bin"]
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.size == len(data)
    assert store.status(model) == "ready"
    assert [p.name for p in models.iterdir() if p.name.endswith(".part")] == []


async def test_hash_mismatch_discards_download_and_keeps_good_file(origin, dirs):
    models, state = dirs
    good, bad = blob(50_000, 1), blob(50_000, 2)
    url = origin.serve("/m.bin", good)
    store = ModelStore(models, state)
    await provision(store, spec(models, url, good))
    origin.files["/m.bin"].data = bad
    wanted = spec(models, url, bad, sha256=hashlib.sha256(b"something else").hexdigest())
    (models / "model.bin").touch()  # invalidate the record so ensure must re-check
    with pytest.raises(ModelError) as err:
        await provision(store, wanted)
    msg = str(err.value)
    assert "model.bin" in msg and url in msg and wanted.sha256 in msg and hashlib.sha256(bad).hexdigest() in msg
    assert "update sha256" in msg
    assert (models / "model.bin").read_bytes() == good
    assert not [p for p in models.iterdir() if p.name.endswith(".part")]
    assert store.status(wanted) == "corrupt"  # the file holds the old content, recorded as such


async def test_sixteen_concurrent_ensures_make_one_request(origin, dirs):
    models, state = dirs
    data = blob(2_000_000)
    model = spec(models, origin.serve("/m.bin", data, throttle=8_000_000), data)
    store = ModelStore(models, state)
    paths = await asyncio.gather(*(provision(store, model) for _ in range(16)))
    assert set(paths) == {models / "model.bin"}
    assert len(origin.hits("/m.bin")) == 1
    assert origin.bytes_sent == len(data)


async def test_verified_cache_avoids_rehashing_and_network(origin, dirs):
    models, state = dirs
    data = blob(400_000)
    model = spec(models, origin.serve("/m.bin", data), data)
    first = CountingStore(models, state)
    await provision(first, model)
    assert first.hash_reads == 0  # hashed while streaming, no second pass
    again = CountingStore(models, state)  # a fresh process's view: only state.json
    for _ in range(3):
        await provision(again, model)
    assert again.hash_reads == 0 and len(origin.requests) == 1
    os.utime(models / "model.bin")  # touched: the record no longer vouches for it
    third = CountingStore(models, state)
    await provision(third, model)
    assert third.hash_reads == len(data) and len(origin.requests) == 1  # re-hashed once, not downloaded
    await provision(third, model)
    assert third.hash_reads == len(data)


async def test_present_unrecorded_file_is_hashed_not_downloaded(origin, dirs):
    models, state = dirs
    data = blob(10_000)
    model = spec(models, origin.serve("/m.bin", data), data)
    models.mkdir()
    (models / "model.bin").write_bytes(data)
    store = ModelStore(models, state)
    assert store.status(model) == "unverified"
    await provision(store, model)
    assert origin.requests == [] and store.status(model) == "ready"


async def test_corrupt_file_is_replaced_by_verified_download(origin, dirs):
    models, state = dirs
    data = blob(10_000)
    model = spec(models, origin.serve("/m.bin", data), data)
    models.mkdir()
    (models / "model.bin").write_bytes(b"x" * len(data))
    store = ModelStore(models, state)
    await provision(store, model)
    assert (models / "model.bin").read_bytes() == data and len(origin.requests) == 1


@pytest.mark.parametrize("bad", ["../evil.bin", "a/b.bin", "/etc/passwd", "..", ".hidden", "x.part", "x.lock", ""])
async def test_traversal_filenames_are_refused(dirs, tmp_path, bad):
    models, state = dirs
    src = tmp_path / "src.bin"
    src.write_bytes(b"data")
    model = spec(models, str(src), b"data", filename=bad)
    store = ModelStore(models, state)
    with pytest.raises(ModelError, match="refusing model filename"):
        await provision(store, model)
    with pytest.raises(ModelError):
        store.status(model)
    assert not (tmp_path / "evil.bin").exists()


async def test_declared_size_mismatch_is_refused(origin, dirs):
    models, state = dirs
    data = blob(10_000)
    url = origin.serve("/m.bin", data)
    with pytest.raises(ModelError, match="declares size 9999"):
        await provision(ModelStore(models, state), spec(models, url, data, size=9999))
    assert not (models / "model.bin").exists()
    assert not [p for p in models.iterdir() if p.name.endswith(".part")]


async def test_content_length_longer_than_body_is_retried_then_fails(origin, dirs):
    models, state = dirs
    data = blob(10_000)
    url = origin.serve("/m.bin", data, content_length=20_000, ranges=False)
    store = ModelStore(models, state, retries=1)
    with pytest.raises(ModelError, match="declares size 10000|failed after"):
        await provision(store, spec(models, url, data))
    assert not (models / "model.bin").exists()


async def test_verify_reports_drift_and_corruption(origin, dirs):
    models, state = dirs
    data = blob(10_000)
    model = spec(models, origin.serve("/m.bin", data), data)
    store = ModelStore(models, state)
    await provision(store, model)
    result = await store.verify(model)
    assert result.ok and not result.drift and result.actual_sha256 == model.sha256
    with open(models / "model.bin", "r+b") as handle:
        handle.write(b"Z")
    result = await store.verify(model)
    assert result.state == "corrupt" and result.drift and result.actual_sha256 != model.sha256
    assert store.status(model) == "corrupt"
    (models / "model.bin").unlink()
    result = await store.verify(model)
    assert result.state == "missing" and "model.bin" not in read_state(state).models


async def test_pull_several_and_events(origin, dirs):
    models, state = dirs
    a, b = blob(100_000, 1), blob(200_000, 2)
    specs = [spec(models, origin.serve("/a", a), a, filename="a.bin"),
             spec(models, origin.serve("/b", b), b, filename="b.bin")]
    bus = EventBus()
    store = ModelStore(models, state, events=bus)
    paths = await pull(store, specs)
    assert [p.name for p in paths] == ["a.bin", "b.bin"]
    kinds = [(e.type, e.data["filename"]) for e in bus.history()]
    for name in ("a.bin", "b.bin"):
        assert ("model.downloading", name) in kinds and ("model.ready", name) in kinds
    progress = [e.data for e in bus.history() if e.type == "model.progress" and e.data["filename"] == "b.bin"]
    assert progress[-1]["bytes"] == len(b) and progress[-1]["total"] == len(b)


async def test_failure_publishes_model_failed(origin, dirs):
    models, state = dirs
    bus = EventBus()
    store = ModelStore(models, state, events=bus)
    with pytest.raises(ModelError, match="HTTP 404"):
        await provision(store, spec(models, origin.url("/nope"), b"x"))
    failed = [e for e in bus.history() if e.type == "model.failed"]
    assert len(failed) == 1 and "404" in failed[0].data["error"]
    assert failed[0].data["bytes"] == 0 and failed[0].data["total"] == 1


async def test_failed_event_carries_bytes_received(origin, dirs):
    models, state = dirs
    data = blob(100_000)
    url = origin.serve("/m.bin", data)
    bus = EventBus()
    with pytest.raises(ModelError, match="sha256 mismatch"):
        await provision(ModelStore(models, state, events=bus), spec(models, url, data, sha256="0" * 64))
    (failed,) = [e.data for e in bus.history() if e.type == "model.failed"]
    assert failed["bytes"] == len(data) and failed["total"] == len(data) and failed["url"] == url


async def test_status_downloading_while_in_flight(origin, dirs):
    models, state = dirs
    data = blob(400_000)
    model = spec(models, origin.serve("/m.bin", data, throttle=1_000_000), data)
    store = ModelStore(models, state)
    task = asyncio.create_task(store.download(model))
    await asyncio.sleep(0.1)
    assert store.status(model) == "downloading"
    assert ModelStore(models, state).status(model) == "downloading"  # another store sees the live holder
    await task
    assert store.status(model) == "ready"


async def test_cross_process_lock_timeout_names_holder(dirs, tmp_path):
    import subprocess
    import sys

    models, state = dirs
    models.mkdir(parents=True)
    data = b"abc"
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    model = spec(models, str(src), data)
    holder = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, sys
from pathlib import Path
from aiplugs.store.locks import HeldLock, model_lock_path
async def main():
    async with HeldLock(model_lock_path(Path({str(state)!r}), "model.bin"), what="a test", timeout=5):
        print("held", flush=True)
        sys.stdin.readline()
asyncio.run(main())
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        store = ModelStore(models, state, lock_timeout=0.3)
        with pytest.raises(ModelError) as err:
            await provision(store, model)
        assert f"pid {holder.pid}" in str(err.value) and "timed out" in str(err.value)
        assert "gave up after 0.3s" in str(err.value)
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert await provision(ModelStore(models, state), model) == models / "model.bin"


class NoLockStore(ModelStore):
    """A store that skips the cross-process lock, as if it had timed out or lived on a filesystem without locks."""

    def _lock_for(self, target: Path):
        import contextlib

        return contextlib.AsyncExitStack()


async def test_correctness_does_not_depend_on_the_lock(origin, dirs):
    models, state = dirs
    data = blob(3_000_000)
    model = spec(models, origin.serve("/m.bin", data, throttle=3_000_000), data)
    stores = [NoLockStore(models, state) for _ in range(3)]
    paths = await asyncio.gather(*(provision(s, model) for s in stores))
    assert len(origin.hits("/m.bin")) >= 2  # several really downloaded at once (a late one may find it ready)...
    assert set(paths) == {models / "model.bin"}
    assert (models / "model.bin").read_bytes() == data  # ...and each published a verified file over the others
    assert ModelStore(models, state).status(model) == "ready"
    assert not [p for p in models.iterdir() if p.name.endswith(".part")]
