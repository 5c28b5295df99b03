"""Model pull throughput and memory: aiplugs ModelStore (sha256 while streaming, fsync, atomic publish) against a
raw aiohttp stream-to-disk of the same file from the same local origin, in the same run; plus the cost of a cache
hit (an already verified model: a stat and state.json, no hashing, no network).

Each pull runs in its own subprocess so its peak RSS (VmHWM) is its own. Baselines: raw aiohttp stream-to-disk
without hashing, once without fsync (the plain baseline) and once with a final fsync (the same durability aiplugs
gives). Goals: throughput >= 0.9x the raw stream, RSS flat (< 100 MB) whatever the size, cache hit < 5 ms.

    python benchmarks/bench_models.py [--quick]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    from ._common import print_table, summary, write_json
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks._common import print_table, summary, write_json

ORIGIN = """
import asyncio, sys
from aiohttp import web
path = sys.argv[1]
async def handle(request):
    return web.FileResponse(path, chunk_size=1 << 20)
async def main():
    app = web.Application()
    app.router.add_get("/model.bin", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""

RAW = """
def PEAK():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
import asyncio, json, os, sys, time
import aiohttp
url, dest, fsync = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
async def main():
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            resp.raise_for_status()
            with open(dest, "wb") as handle:
                async for chunk in resp.content.iter_any():
                    handle.write(chunk)
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
    return time.perf_counter() - t0
seconds = asyncio.run(main())
print(json.dumps({"seconds": seconds, "maxrss_kib": PEAK()}))
"""

AIPLUGS = """
def PEAK():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
import asyncio, json, sys, time
from pathlib import Path
from aiplugs.adapters.models import ModelStore
from aiplugs.plan import ModelSpec
from aiplugs.runtime.models import pull  # what `aiplugs models pull` runs
import aiplugs.adapters.models._http, filelock  # imported before the clock starts, as the raw child imports aiohttp
url, models, state, sha, size, hits = sys.argv[1:]
models, state = Path(models), Path(state)
model = ModelSpec("model.bin", url, sha, int(size), models / "model.bin", ("MODEL",), ("bench",), False)
async def main():
    t0 = time.perf_counter()
    await pull(ModelStore(models, state), [model])
    seconds = time.perf_counter() - t0
    rss = PEAK()
    fresh = ModelStore(models, state)  # a new store: only state.json vouches for the file
    t1 = time.perf_counter()
    await pull(fresh, [model])
    first_hit = time.perf_counter() - t1
    times = []
    for _ in range(int(hits)):
        t = time.perf_counter()
        await pull(fresh, [model])
        times.append(time.perf_counter() - t)
    return {"seconds": seconds, "maxrss_kib": rss, "cache_hit_first_s": first_hit, "cache_hit_s": times}
print(json.dumps(asyncio.run(main())))
"""


def _make_source(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    block = 16 << 20
    with open(path, "wb") as handle:
        left = size
        while left:
            data = os.urandom(min(block, left))
            hasher.update(data)
            handle.write(data)
            left -= len(data)
    return hasher.hexdigest()


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(16 << 20):
            hasher.update(block)
    return hasher.hexdigest()


def _child(code: str, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sha256_speed() -> float:
    """MiB/s of sha256 alone on this machine: the context for the ratio (on loopback with a local origin, the
    raw stream can be as fast as hashing itself, and all three share the same cores)."""
    import time

    data = os.urandom(64 << 20)
    start = time.perf_counter()
    hashlib.sha256(data).digest()
    return 64 / (time.perf_counter() - start)


def run(quick: bool = False) -> dict[str, Any]:
    size = (64 << 20) if quick else (1 << 30)
    rounds = 2 if quick else 3
    hits = 200 if quick else 1000
    work = Path(tempfile.mkdtemp(prefix="aiplugs-bench-models-"))
    origin = None
    try:
        source = work / "source.bin"
        sha = _make_source(source, size)
        origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(source)], stdout=subprocess.PIPE, text=True)
        assert origin.stdout is not None
        port = int(origin.stdout.readline())
        url = f"http://127.0.0.1:{port}/model.bin"
        results: dict[str, list[dict[str, Any]]] = {"raw": [], "raw_fsync": [], "aiplugs": []}
        for i in range(rounds):  # interleaved, so drift in the machine's load hits all three alike
            for name in ("raw", "raw_fsync", "aiplugs"):
                dest = work / f"{name}-{i}"
                dest.mkdir()
                if name == "aiplugs":
                    r = _child(AIPLUGS, url, str(dest / "models"), str(dest / "state"), sha, str(size), str(hits))
                    if _sha256(dest / "models" / "model.bin") != sha:
                        raise RuntimeError("aiplugs published a file with the wrong content")
                else:
                    r = _child(RAW, url, str(dest / "model.bin"), "1" if name == "raw_fsync" else "0")
                results[name].append(r)
                shutil.rmtree(dest)
    finally:
        if origin is not None:
            origin.kill()
            origin.wait()
        shutil.rmtree(work, ignore_errors=True)

    def best(name: str) -> dict[str, Any]:
        runs = results[name]
        seconds = min(r["seconds"] for r in runs)
        return {"mib_per_s": size / (1 << 20) / seconds, "seconds": seconds,
                "seconds_median": statistics.median(r["seconds"] for r in runs),
                "peak_rss_mb": max(r["maxrss_kib"] for r in runs) / 1024}

    raw, raw_fsync, ours = best("raw"), best("raw_fsync"), best("aiplugs")
    hit_ms = [t * 1000 for r in results["aiplugs"] for t in r["cache_hit_s"]]
    first_hit_ms = [r["cache_hit_first_s"] * 1000 for r in results["aiplugs"]]
    return {
        "quick": quick,
        "size_bytes": size,
        "rounds": rounds,
        "raw": raw,
        "raw_fsync": raw_fsync,
        "aiplugs": ours,
        "ratio_vs_raw": ours["mib_per_s"] / raw["mib_per_s"],
        "ratio_vs_raw_fsync": ours["mib_per_s"] / raw_fsync["mib_per_s"],
        "cache_hit_ms": summary(hit_ms),
        "cache_hit_first_ms": summary(first_hit_ms),
        "sha256_only_mib_per_s": _sha256_speed(),
        "cpus": os.cpu_count(),
        "goals": {"ratio_vs_raw": 0.9, "peak_rss_mb": 100, "cache_hit_ms": 5},
        "goal_met": (ours["mib_per_s"] / raw["mib_per_s"] >= 0.9 and ours["peak_rss_mb"] < 100
                     and summary(hit_ms)["p99"] < 5),
    }


def report(result: dict[str, Any]) -> None:
    rows = [{"client": name, "MiB/s": result[name]["mib_per_s"], "best s": result[name]["seconds"],
             "median s": result[name]["seconds_median"], "peak RSS MB": result[name]["peak_rss_mb"]}
            for name in ("raw", "raw_fsync", "aiplugs")]
    print_table(f"model pull, {result['size_bytes'] >> 20} MiB from a local aiohttp origin", rows)
    print(f"\nthroughput ratio aiplugs/raw: {result['ratio_vs_raw']:.3f}x  (goal >= 0.9; "
          f"vs raw+fsync: {result['ratio_vs_raw_fsync']:.3f}x)")
    hit = result["cache_hit_ms"]
    print(f"sha256 alone on this machine: {result['sha256_only_mib_per_s']:.0f} MiB/s on {result['cpus']} CPU(s) "
          "shared by origin, client and hashing")
    print(f"peak RSS aiplugs {result['aiplugs']['peak_rss_mb']:.1f} MB vs raw {result['raw']['peak_rss_mb']:.1f} MB "
          "(goal < 100 MB, flat in file size)")
    print(f"cache hit (verified model): p50 {hit['p50']:.3f} ms, p99 {hit['p99']:.3f} ms; first call in a fresh "
          f"store {result['cache_hit_first_ms']['p50']:.3f} ms  (goal < 5 ms)")


if __name__ == "__main__":
    outcome = run(quick="--quick" in sys.argv)
    report(outcome)
    print(f"\nwrote {write_json('models', outcome)}")
