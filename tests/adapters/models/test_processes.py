"""Several real processes against one models folder: the cross-process lock, and SIGKILL at any point."""

from __future__ import annotations

import asyncio
import shutil
import hashlib
import random
import signal
import sys
import threading
import time
from pathlib import Path

from aiplugs.adapters.models import ModelStore

from .conftest import blob, spec

CHILD = """
import asyncio, hashlib, sys
from pathlib import Path
from aiplugs.adapters.models import ModelStore
from aiplugs.plan import ModelSpec
models, state, url, sha, size = sys.argv[1:]
model = ModelSpec("model.bin", url, sha, int(size), Path(models) / "model.bin", ("MODEL",), ("p",), False)
path = asyncio.run(ModelStore(Path(models), Path(state)).download(model))
print(hashlib.sha256(path.read_bytes()).hexdigest(), flush=True)
"""


async def _child(models: Path, state: Path, url: str, data: bytes) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(models), str(state), url, hashlib.sha256(data).hexdigest(), str(len(data)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


class Watcher(threading.Thread):
    """Samples the target while processes race: whenever it exists it must be complete and verified."""

    def __init__(self, target: Path, data: bytes) -> None:
        super().__init__(daemon=True)
        self.target, self.size, self.sha = target, len(data), hashlib.sha256(data).hexdigest()
        self.seen = 0
        self.bad: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                content = self.target.read_bytes()
            except FileNotFoundError:
                time.sleep(0.005)
                continue
            self.seen += 1
            if len(content) != self.size or hashlib.sha256(content).hexdigest() != self.sha:
                self.bad.append(f"{len(content)} bytes")
            time.sleep(0.01)


async def test_four_processes_pull_the_same_model(origin, dirs):
    models, state = dirs
    data = blob(3_000_000)
    url = origin.serve("/m.bin", data, throttle=4_000_000)
    watcher = Watcher(models / "model.bin", data)
    watcher.start()
    try:
        procs = [await _child(models, state, url, data) for _ in range(4)]
        results = [await p.communicate() for p in procs]
    finally:
        watcher.done.set()
        watcher.join()
    for proc, (out, err) in zip(procs, results):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == hashlib.sha256(data).hexdigest()
    assert watcher.seen > 0 and watcher.bad == []
    assert len(origin.hits("/m.bin")) == 1  # the lock deduped the work
    assert sorted(p.name for p in models.iterdir()) == ["model.bin"]  # locks live in the state dir


async def _kill_and_recover(origin, models: Path, state: Path, data: bytes, when) -> None:
    url = origin.url("/m.bin")
    proc = await _child(models, state, url, data)
    await when()
    try:
        proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass  # it finished first: also a point in time
    await proc.wait()
    target = models / "model.bin"
    if target.exists():  # killed after publishing: then it is the verified file
        assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    path = await ModelStore(models, state).download(spec(models, url, data))
    assert path.read_bytes() == data
    leftovers = [p.name for p in models.iterdir() if p.name.endswith((".part", ".tmp"))]
    assert leftovers == [], leftovers


async def test_sigkill_mid_body_then_next_pull_cleans_up(origin, dirs):
    models, state = dirs
    data = blob(12_000_000)  # bigger than the writer's buffer, so bytes reach the temp file mid-body
    origin.serve("/m.bin", data, throttle=8_000_000)

    async def mid_body() -> None:
        for _ in range(1000):
            parts = list(models.glob("*.part")) if models.exists() else []
            if parts and parts[0].stat().st_size > 0:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the child never started writing")

    await _kill_and_recover(origin, models, state, data, mid_body)
    assert len(origin.hits("/m.bin")) == 2


async def test_sigkill_at_random_points(origin, dirs):
    models, state = dirs
    data = blob(1_000_000)
    origin.serve("/m.bin", data, throttle=2_000_000)
    rng = random.Random()
    for _ in range(3):
        delay = rng.uniform(0.0, 1.5)

        async def at_random(delay: float = delay) -> None:
            await asyncio.sleep(delay)

        await _kill_and_recover(origin, models, state, data, at_random)
        for p in models.iterdir():  # start each round afresh
            p.unlink()
        shutil.rmtree(state)
