"""Where a plugin runs: the ``ray`` worker backend (replicas of a Ray Serve deployment on a local Ray instance aiplugs
owns) against the ``process`` backend (worker processes over a socketpair channel), side by side in one run,
through the same seam (``backend.request``) with the same echo plugin and the same payload.

Measured: sequential call latency p50/p99 (concurrency 1), calls/s at concurrency 8, and cold start — a worker
process from spawn to ready, a Ray deployment from deploy to its replica serving, and (once) the local Ray
instance itself. Phases alternate process, ray, process, ray, so drift on a shared machine hits both alike.
Reported ratios are ray / process (latency and cold start: lower is better for ray; calls/s: higher). There is no
goal: Ray buys scale-out (other nodes, GPUs, autoscaling), not single-machine speed, and this says what it costs.

    python benchmarks/bench_ray.py          # full
    python benchmarks/bench_ray.py --quick  # small, about a minute (most of it is starting Ray)
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, summary, write_json  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"
PAYLOAD = {"text": "The quick brown fox jumps over the lazy dog.", "n": 42}
CONCURRENCY = 8


def _spec(backend: str, salt: str, root: Path) -> Any:
    from aiplugs.plan import WorkerSpec
    from aiplugs.plan.placement import RayPlacement

    folder = FIXTURES / "echo"
    pid = f"echo-{backend}"
    env = {"AIPLUGS_PLUGIN_ID": pid, "AIPLUGS_SETTINGS": "{}", "AIPLUGS_MODELS": "{}"}
    digest = hashlib.sha256(f"{backend}|{salt}".encode()).hexdigest()[:16]
    return WorkerSpec(pid, 1, folder / "backend.py", folder, tuple(sorted(env.items())), (), (), 60.0, digest,
                      data_dir=root / "data" / pid, cache_dir=root / "cache" / pid,
                      ray=RayPlacement(num_cpus=0.5) if backend == "ray" else None)


async def _sequential(backend: Any, plugin_id: str, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        started = time.perf_counter()
        answer = await backend.request(plugin_id, PAYLOAD)
        assert answer.value == PAYLOAD
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def _throughput(backend: Any, plugin_id: str, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await backend.request(plugin_id, PAYLOAD)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    return done / (time.perf_counter() - started)


async def _bench(quick: bool) -> dict[str, Any]:
    from aiplugs.adapters.ray import RayBackend, RayInstance
    from aiplugs.adapters.workers import WorkerManager

    calls, seconds, rounds, starts = (200, 3.0, 2, 2) if quick else (2000, 10.0, 2, 5)
    root = Path(tempfile.mkdtemp(prefix="aiplugs-bench-ray-"))
    instance = RayInstance(num_cpus=2)
    started = time.perf_counter()
    await instance.start()
    instance_s = time.perf_counter() - started
    backends = {"process": WorkerManager(root / "state", grace_s=2.0),
                "ray": RayBackend(root / "state", models_dir=root / "models", instance=instance)}
    cold: dict[str, list[float]] = {"process": [], "ray": []}
    latency: dict[str, list[float]] = {"process": [], "ray": []}
    rps: dict[str, list[float]] = {"process": [], "ray": []}
    try:
        for i in range(starts):  # cold starts: a new spec each time (a config change: nothing reused)
            for name, backend in backends.items():
                spec = _spec(name, f"cold-{i}", root)
                began = time.perf_counter()
                await backend.start(spec, 0)
                cold[name].append(time.perf_counter() - began)
                await backend.stop(spec.plugin_id, 0)
        for name, backend in backends.items():
            await backend.start(_spec(name, "warm", root), 0)
            await _sequential(backend, f"echo-{name}", 20)  # warm up: handles, routers, first imports
        for _ in range(rounds):
            for name, backend in backends.items():
                latency[name] += await _sequential(backend, f"echo-{name}", calls // rounds)
                rps[name].append(await _throughput(backend, f"echo-{name}", seconds / rounds))
    finally:
        for backend in backends.values():
            await backend.close()
        await instance.stop()
        shutil.rmtree(root, ignore_errors=True)
    rows = []
    for name in backends:
        lat = summary(latency[name])
        rows.append({"backend": name, "p50_ms": lat["p50"], "p99_ms": lat["p99"],
                     "calls_per_s": sum(rps[name]) / len(rps[name]), "cold_start_s": summary(cold[name])["p50"]})
    process, ray = rows
    return {
        "rows": rows, "calls": calls, "seconds": seconds, "concurrency": CONCURRENCY, "quick": quick,
        "ray_instance_start_s": instance_s,
        "p50_ratio": ray["p50_ms"] / process["p50_ms"], "p99_ratio": ray["p99_ms"] / process["p99_ms"],
        "rps_ratio": ray["calls_per_s"] / process["calls_per_s"],
        "cold_start_ratio": ray["cold_start_s"] / process["cold_start_s"],
        "goal": "none: Ray buys scale-out (other nodes, GPUs, autoscaling), not single-machine speed; this shows "
                "what it costs",
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_bench(quick))


def report(result: dict[str, Any]) -> None:
    print_table(f"worker backends: echo through the seam, sequential latency and calls/s at concurrency "
                f"{result['concurrency']}, cold start (p50)", result["rows"])
    print(f"\nray / process: p50 {result['p50_ratio']:.2f}x, p99 {result['p99_ratio']:.2f}x, calls/s "
          f"{result['rps_ratio']:.2f}x, cold start {result['cold_start_ratio']:.2f}x "
          f"(+ {result['ray_instance_start_s']:.1f} s to start the local Ray instance, once)")


def main() -> None:
    result = run("--quick" in sys.argv)
    report(result)
    print(f"wrote {write_json('ray', result)}")


if __name__ == "__main__":
    main()
