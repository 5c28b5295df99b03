"""Model pulls as a user runs them: ``aiplugs models pull`` (a whole process: start, read the declaration, fetch
through the ModelStore with sha256 while streaming, fsync, verify, atomic rename, record) against two baselines run
the same way, each a whole process pulling the same file from the same local origin, interleaved round by round:

(a) ``minimal``: the least a verified download needs: an aiohttp stream, sha256 and write in one worker thread fed
    4 MiB buffers, fsync, rename (aiohttp's 1 MiB read buffer, as aiplugs uses: the strongest of the variants
    tried; the default 64 KiB buffer pauses the socket constantly and made this baseline ~1.5x slower);
(b) ``pooch``: ``pooch.retrieve(url, known_hash="sha256:...")``, what a Python user picks today (requests,
    1 KiB chunks, hashes the file after downloading it, no fsync).

Goals: aiplugs >= 0.9x (a) and >= 1.5x (b) in throughput (medians), peak RSS <= 100 MB whatever the size, 16
concurrent pulls of one file -> one origin fetch (16 ``aiplugs models pull`` processes at once, and 16 concurrent
``ModelStore.download`` calls in one process), a cache hit (an already verified model) < 5 ms.

Why the old in-process figure disagreed with the CLI. The suite used to time ``pull()`` inside a warmed-up child
and call that "aiplugs", against a raw stream that neither hashed nor fsynced; the CLI was timed by hand as a whole
process against a verified baseline. Two different questions, so two different numbers: the in-process figure left
out what a user pays (interpreter start, reading aiplugs.toml and the manifests: 0.47 s for the CLI against 0.22 s
for the minimal script, about 15 % of a 1 GiB pull at ~500 MiB/s) and compared it with a client that skipped the
work being measured. Re-measured here side by side (5 interleaved rounds, 1 GiB) the in-process ``pull()`` and the
CLI differ by their start-up cost only; the rest of the disagreement in the issue came from comparing runs on a
shared two-core machine at different moments (single runs of one 1 GiB pull vary 2x here with other load). So the
suite now times every client as a whole process, reports medians, and the baselines verify what they fetch.

Where the time went (py-spy on a 1 GiB pull, 200 Hz, idle included): the writer thread was the critical path,
split about evenly between ``sha256.update`` and ``writev``, while the event loop sat idle in ``select`` a third of
the time waiting for it; and every byte was still dirty in the page cache when the final fsync came, so the pull
paid disk write-out after the transfer instead of during it (and grew the page cache by the file's size). Fixed in
``adapters/models/_sink.py``: hashing and writing run on two ordered threads (both release the GIL), and each
written buffer's writeback starts at once (``posix_fadvise(DONTNEED)``: asynchronous write-out of those pages,
then dropping the clean ones), so the fsync finds little left. Same guarantees: sha256 of every byte before
publish, fsync of file and folder, ``os.replace``, resumable part files, single flight. Measured (medians of 7
interleaved in-process rounds, 1 GiB): before 279 MiB/s, two threads alone 321, two threads + early writeback 395
(later runs on a quieter machine: 588 against the minimal baseline's 578). Start-up of ``aiplugs models pull``
was cut from 0.47 s by importing only what a pull runs (see ``python -X importtime``).

Numbers on this machine are noisy (two cores shared with other work): read medians, and the ratio of one round's
interleaved runs rather than absolute MiB/s.

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
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, summary, write_json  # noqa: E402

GOALS = {"ratio_vs_minimal": 0.9, "ratio_vs_pooch": 1.5, "peak_rss_mb": 100, "origin_fetches_for_16": 1,
         "cache_hit_ms": 5}
CLIENTS = ("minimal", "pooch", "aiplugs")
CONCURRENT = 16

ORIGIN = """
import asyncio, json, sys
from aiohttp import web
path, served = sys.argv[1], {"gets": 0}
async def model(request):
    served["gets"] += 1
    return web.FileResponse(path, chunk_size=1 << 20)
async def stats(request):
    return web.json_response(served)
async def main():
    app = web.Application()
    app.router.add_get("/model.bin", model)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""

PEAK = """
def peak_kib():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

MINIMAL = PEAK + """
import asyncio, hashlib, json, os, sys
from concurrent.futures import ThreadPoolExecutor
import aiohttp
url, dest, sha = sys.argv[1:4]
async def main():
    hasher, part = hashlib.sha256(), dest + ".part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    def work(block):
        hasher.update(block)
        os.write(fd, block)
    loop, pool, pending = asyncio.get_running_loop(), ThreadPoolExecutor(1), None
    async with aiohttp.ClientSession(read_bufsize=1 << 20) as session:
        async with session.get(url) as resp:
            resp.raise_for_status()
            async for block in resp.content.iter_chunked(4 << 20):
                if pending is not None:
                    await pending
                pending = loop.run_in_executor(pool, work, block)
            if pending is not None:
                await pending
    pool.shutdown()
    os.fsync(fd)
    os.close(fd)
    if hasher.hexdigest() != sha:
        os.unlink(part)
        raise SystemExit("sha256 mismatch")
    os.replace(part, dest)
asyncio.run(main())
print(json.dumps({"peak_kib": peak_kib()}))
"""

POOCH = PEAK + """
import json, sys
import pooch
url, folder, sha = sys.argv[1:4]
pooch.retrieve(url, known_hash="sha256:" + sha, fname="model.bin", path=folder, progressbar=False)
print(json.dumps({"peak_kib": peak_kib()}))
"""

CLI = PEAK + """
import json, sys
from aiplugs.cli import main  # exactly what the `aiplugs` console script runs
code = main(sys.argv[1:])
print(json.dumps({"peak_kib": peak_kib()}))
sys.exit(code)
"""

# 16 concurrent downloads of one file in one process (the daemon's case: lazy plugins' first calls) + cache hits
IN_PROCESS = """
import asyncio, json, sys, time, urllib.request
from pathlib import Path
from aiplugs.adapters.models import ModelStore
from aiplugs.plan import ModelSpec
from aiplugs.runtime.models import pull
url, stats, models, state, sha, size, n, hits = sys.argv[1:]
models, state = Path(models), Path(state)
model = ModelSpec("model.bin", url, sha, int(size), models / "model.bin", ("MODEL",), ("bench",), False)
def gets():
    return json.load(urllib.request.urlopen(stats))["gets"]
async def main():
    before = gets()
    store = ModelStore(models, state)
    paths = await asyncio.gather(*(store.download(model) for _ in range(int(n))))
    fetches = gets() - before
    fresh = ModelStore(models, state)  # a new store: only state.json vouches for the file
    times = []
    for _ in range(int(hits)):
        t = time.perf_counter()
        await pull(fresh, [model])
        times.append(time.perf_counter() - t)
    return {"fetches": fetches, "same_path": len(set(paths)) == 1, "cache_hit_s": times}
print(json.dumps(asyncio.run(main())))
"""


def _make_source(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "wb") as handle:
        left = size
        while left:
            data = os.urandom(min(16 << 20, left))
            hasher.update(data)
            handle.write(data)
            left -= len(data)
        handle.flush()
        os.fsync(handle.fileno())  # no dirty source pages left to be written back during the first round
    return hasher.hexdigest()


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def make_project(root: Path, url: str, sha: str, size: int) -> Path:
    """A project with one plugin declaring the model, as a user's would."""
    plugin = root / "plugins" / "big"
    plugin.mkdir(parents=True)
    manifest = {"manifest_version": 3, "id": "big", "name": "Big", "version": "1.0.0",
                "inference": {"default_mode": "local", "local_entry": "backend.py",
                              "models": [{"key": "MODEL", "filename": "model.bin", "source_url": url,
                                          "sha256": sha, "size": size}]}}
    (plugin / "manifest.json").write_text(json.dumps(manifest))
    (plugin / "backend.py").write_text("def run(payload):\n    return payload\n")
    (root / "aiplugs.toml").write_text('plugins_dir = "plugins"\nmodels_dir = "models"\nstate_dir = ".aiplugs"\n')
    return root


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIPLUGS_")}
    env["NO_COLOR"] = "1"
    return env


def _timed(argv: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Runs one client to its end; wall time from spawn to exit, and the peak RSS it printed last."""
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=cwd, env=_env())
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"benchmark client {argv[2:4]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return {"seconds": seconds, "peak_rss_mb": json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"] / 1024}


def _pull(name: str, url: str, sha: str, size: int, folder: Path) -> dict[str, Any]:
    if name == "minimal":
        folder.mkdir()
        result = _timed([sys.executable, "-c", MINIMAL, url, str(folder / "model.bin"), sha])
        target = folder / "model.bin"
    elif name == "pooch":
        folder.mkdir()
        result = _timed([sys.executable, "-c", POOCH, url, str(folder), sha])
        target = folder / "model.bin"
    else:
        project = make_project(folder, url, sha, size)
        result = _timed([sys.executable, "-c", CLI, "models", "pull", "--no-progress"], cwd=project)
        target = project / "models" / "model.bin"
    if target.stat().st_size != size:
        raise RuntimeError(f"{name} left {target} with {target.stat().st_size} bytes, not {size}")
    return result


def _concurrent_cli(work: Path, url: str, stats: str, sha: str, size: int) -> dict[str, Any]:
    """16 ``aiplugs models pull`` processes at once on one project: the origin must serve the file once."""
    import urllib.request

    project = make_project(work / "concurrent", url, sha, size)
    before = json.load(urllib.request.urlopen(stats))["gets"]
    procs = [subprocess.Popen([sys.executable, "-c", CLI, "models", "pull", "--no-progress"], cwd=project,
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(CONCURRENT)]
    failed = [p.communicate(timeout=1800)[1][-500:] for p in procs if p.wait() != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {CONCURRENT} concurrent pulls failed: {failed[0]}")
    if _sha256(project / "models" / "model.bin") != sha:
        raise RuntimeError("concurrent pulls published a file with the wrong content")
    return {"processes": CONCURRENT, "fetches": json.load(urllib.request.urlopen(stats))["gets"] - before}


def run(quick: bool = False) -> dict[str, Any]:
    size = (256 << 20) if quick else (1 << 30)
    rounds = 2 if quick else 5
    hits = 200 if quick else 1000
    work = Path(tempfile.mkdtemp(prefix="aiplugs-bench-models-"))
    origin = None
    try:
        sha = _make_source(work / "source.bin", size)
        origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(work / "source.bin")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        port = int(origin.stdout.readline())  # type: ignore[union-attr]
        url, stats = f"http://127.0.0.1:{port}/model.bin", f"http://127.0.0.1:{port}/stats"
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
        for i in range(rounds):  # interleaved, so drift in the machine's load hits every client alike
            for name in CLIENTS:
                folder = work / f"{name}-{i}"
                runs[name].append(_pull(name, url, sha, size, folder))
                shutil.rmtree(folder)
        concurrent_cli = _concurrent_cli(work, url, stats, sha, size)
        inproc = json.loads(subprocess.run(
            [sys.executable, "-c", IN_PROCESS, url, stats, str(work / "inproc" / "models"),
             str(work / "inproc" / "state"), sha, str(size), str(CONCURRENT), str(hits)],
            capture_output=True, text=True, check=True, timeout=1800, env=_env()).stdout.splitlines()[-1])
    finally:
        if origin is not None:
            origin.stdin.close()  # type: ignore[union-attr]
            origin.kill()
            origin.wait()
        shutil.rmtree(work, ignore_errors=True)
    return digest(runs, size, rounds, concurrent_cli, inproc, quick)


def digest(runs: dict[str, list[dict[str, Any]]], size: int, rounds: int, concurrent_cli: dict[str, Any],
           inproc: dict[str, Any], quick: bool) -> dict[str, Any]:
    """Raw runs → medians, ratios and goals (no side effects)."""
    clients = {}
    for name, values in runs.items():
        median = statistics.median(r["seconds"] for r in values)
        clients[name] = {"mib_per_s": size / (1 << 20) / median, "seconds_median": median,
                         "seconds": [r["seconds"] for r in values],
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in values)}
    ours = clients["aiplugs"]
    hit = summary(t * 1000 for t in inproc["cache_hit_s"])
    fetches = max(concurrent_cli["fetches"], inproc["fetches"])
    result = {
        "quick": quick, "size_bytes": size, "rounds": rounds, **clients,
        "ratio_vs_minimal": ours["mib_per_s"] / clients["minimal"]["mib_per_s"],
        "ratio_vs_pooch": ours["mib_per_s"] / clients["pooch"]["mib_per_s"],
        "peak_rss_mb": ours["peak_rss_mb"],
        "concurrent": {"cli_processes": concurrent_cli, "in_process": {"downloads": CONCURRENT,
                                                                       "fetches": inproc["fetches"]}},
        "origin_fetches_for_16": fetches, "cache_hit_ms": hit, "goals": GOALS,
    }
    result["goal_met"] = (result["ratio_vs_minimal"] >= GOALS["ratio_vs_minimal"]
                          and result["ratio_vs_pooch"] >= GOALS["ratio_vs_pooch"]
                          and ours["peak_rss_mb"] <= GOALS["peak_rss_mb"] and fetches == 1
                          and inproc["same_path"] and hit["p99"] < GOALS["cache_hit_ms"])
    return result


def report(result: dict[str, Any]) -> None:
    label = {"minimal": "(a) minimal verified", "pooch": "(b) pooch.retrieve", "aiplugs": "aiplugs models pull"}
    rows = [{"client": label[name], "MiB/s (median)": result[name]["mib_per_s"],
             "median s": result[name]["seconds_median"], "peak RSS MB": result[name]["peak_rss_mb"],
             "aiplugs / this": result["aiplugs"]["mib_per_s"] / result[name]["mib_per_s"]} for name in CLIENTS]
    print_table(f"model pull, {result['size_bytes'] >> 20} MiB from a local origin, whole processes, "
                f"{result['rounds']} interleaved rounds", rows)
    c = result["concurrent"]
    print(f"\nratio vs (a): {result['ratio_vs_minimal']:.2f}x (goal >= 0.9); vs (b): {result['ratio_vs_pooch']:.2f}x "
          f"(goal >= 1.5); peak RSS {result['peak_rss_mb']:.0f} MB (goal <= 100)")
    print(f"origin fetches for {CONCURRENT} concurrent pulls: {c['cli_processes']['fetches']} (processes), "
          f"{c['in_process']['fetches']} (one process) (goal 1)")
    hit = result["cache_hit_ms"]
    print(f"cache hit (verified model): p50 {hit['p50']:.3f} ms, p99 {hit['p99']:.3f} ms (goal < 5 ms)")


if __name__ == "__main__":
    outcome = run(quick="--quick" in sys.argv)
    report(outcome)
    print(f"\nwrote {write_json('models', outcome)}")
