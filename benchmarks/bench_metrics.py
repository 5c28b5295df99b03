"""The cost of collecting metrics (issue 15), side by side with collection off.

1. Plugin call p50 with collection on vs off: ``POST /v1/plugins/echo/run`` through the router to one echo worker,
   sequential calls from a separate process (so the client does not share the router's loop). "Off" is
   ``[metrics] enabled = false``: pools count nothing (``NULL_STATS``) and no collector runs. "On" counts every
   call and runs the collector — with ``sample_s = 0.25``, twenty times the default rate, so the sampler (psutil
   and a sqlite write, in a thread) lands inside every phase many times. Phases alternate off, on, on, off, ... Goal: on / off <= 1.03.
   Also printed: ``WorkerManager.call`` p50 alone (the path the counters sit on), on vs off.
2. Daemon CPU at idle with 20 plugins (one worker each, no calls): a real daemon started by ``aiplugs apply``,
   its own process's CPU % over a quiet window (workers excluded), with ``[metrics]`` on (defaults: a sample
   every 5 s) and off.

    python benchmarks/bench_metrics.py          # full
    python benchmarks/bench_metrics.py --quick  # small, well under a minute
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import client_env, print_table, summary, write_json  # noqa: E402

GOAL = 1.03
SAMPLE_S = 0.25  # the collector's interval while calls are measured (the default is 5 s)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]
PAYLOAD = {"text": "The quick brown fox jumps over the lazy dog.", "n": 42}

SEQUENTIAL = r"""
import http.client, json, sys, time
port, token, n, body = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
conn = http.client.HTTPConnection("127.0.0.1", port)
headers = {"Content-Type": "application/json", "X-AIPlugs-Token": token, "Host": f"127.0.0.1:{port}"}
def one():
    conn.request("POST", "/v1/plugins/echo/run", body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
for _ in range(50):
    one()
latencies = []
for _ in range(n):
    start = time.perf_counter()
    one()
    latencies.append((time.perf_counter() - start) * 1000)
print(json.dumps(latencies))
"""


async def _sequential(port: int, token: str, n: int) -> list[float]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SEQUENTIAL, str(port), token, str(n),
                                                json.dumps(PAYLOAD), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    return json.loads(out)


async def _calls(quick: bool) -> dict[str, Any]:
    from aiplugs.adapters.router import RouterContext, RouterServer
    from aiplugs.adapters.workers import WorkerManager
    from aiplugs.events import EventBus
    from aiplugs.plan import MetricsSpec, load_desired_state
    from aiplugs.runtime.collect import MetricsCollector

    rounds, n, direct_n = (4, 400, 1000) if quick else (8, 2000, 5000)
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-metrics-") as tmp:
        root = Path(tmp)
        (root / "aiplugs.toml").write_text(f'plugins_dir = "{FIXTURES}"\nstate_dir = "state"\n'
                                           'models_dir = "models"\n[plugins.echo]\nworkers = 1\n')
        _, desired = load_desired_state(root / "aiplugs.toml", env={})
        bus = EventBus()
        manager = WorkerManager(desired.state_dir, events=bus)
        await manager.start(desired.worker("echo"), 0)
        ctx = RouterContext(workers=manager, events=bus, admin_token="bench-admin", page_token="bench-page",
                            desired=desired, max_body_bytes=desired.max_body_bytes)
        ctx.set_route(desired.route("echo"))
        router = RouterServer(ctx)
        await router.start("127.0.0.1", 0)
        collector = MetricsCollector(manager, desired.state_dir, MetricsSpec(enabled=True, sample_s=SAMPLE_S))
        http: dict[str, list[float]] = {"off": [], "on": []}
        direct: dict[str, list[float]] = {"off": [], "on": []}
        try:
            for round_ in range(rounds):
                for mode in ("off", "on") if round_ % 2 == 0 else ("on", "off"):  # neither always goes first
                    if mode == "on":
                        await collector.start()
                    else:
                        manager.set_collecting(False)
                    http[mode] += await _sequential(router.port, "bench-page", n)  # type: ignore[arg-type]
                    for _ in range(direct_n):
                        start = time.perf_counter()
                        await manager.call("echo", PAYLOAD)
                        direct[mode].append((time.perf_counter() - start) * 1000)
                    if mode == "on":
                        await collector.close(final_sample=False)
            samples = collector.history.window("echo", 3600)["samples"]
        finally:
            await router.stop()
            await manager.close()
    off, on = summary(http["off"]), summary(http["on"])
    d_off, d_on = summary(direct["off"]), summary(direct["on"])
    return {"rounds": rounds, "calls_per_phase": n, "sample_s": SAMPLE_S, "collector_samples": samples,
            "http_off_ms": off, "http_on_ms": on, "direct_off_ms": d_off, "direct_on_ms": d_on,
            "p50_ratio": on["p50"] / off["p50"], "direct_p50_ratio": d_on["p50"] / d_off["p50"]}


def _idle_project(root: Path, plugins: int, enabled: bool) -> Path:
    from benchmarks.bench_apply import make_project

    config = make_project(root, plugins)
    text = config.read_text().replace('provision = "lazy"', 'provision = "eager"')
    config.write_text(f"{text}\n[metrics]\nenabled = {'true' if enabled else 'false'}\n")
    return config


def _daemon_cpu(config: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    """CPU % of the daemon process alone over ``seconds`` of idling, after apply converged."""
    import psutil

    from aiplugs.client import DaemonClient
    from aiplugs.declaration.config import load_config

    def cli(*args: str) -> None:
        result = subprocess.run([*CLI, "-c", str(config), *args], cwd=config.parent, env=env, capture_output=True,
                                text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"aiplugs {' '.join(args)} failed: {result.stdout[-1000:]}{result.stderr[-1000:]}")

    cli("apply", "--auto-approve")
    try:
        client = DaemonClient.find(load_config(config, env=env).state_dir)
        assert client is not None and client.pid is not None
        daemon = psutil.Process(client.pid)
        time.sleep(2.0)  # let the first reconcile passes after apply settle
        before, start = daemon.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, elapsed = daemon.cpu_times(), time.monotonic() - start
        used = (after.user + after.system) - (before.user + before.system)
        workers = sum(p["workers_ready"] for p in client.status()["plugins"])
    finally:
        cli("down")
    return {"cpu_pct": 100.0 * used / elapsed, "seconds": elapsed, "workers": workers}


def _idle(quick: bool) -> dict[str, Any]:
    plugins, seconds = (20, 8.0) if quick else (20, 60.0)
    env = client_env()
    results = {}
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-idle-") as tmp:
        for mode in ("off", "on"):
            config = _idle_project(Path(tmp) / mode, plugins, enabled=mode == "on")
            results[mode] = _daemon_cpu(config, env, seconds)
    off, on = results["off"]["cpu_pct"], results["on"]["cpu_pct"]
    return {"plugins": plugins, "idle_seconds": seconds, "off": results["off"], "on": results["on"],
            "idle_cpu_ratio": on / off if off > 0 else None, "idle_cpu_added_pct": on - off}


def run(quick: bool = False) -> dict[str, Any]:
    calls = asyncio.run(_calls(quick))
    idle = _idle(quick)
    ratio = calls["p50_ratio"]
    rows = [
        {"case": "call p50 via router, collection off", "ms_or_pct": calls["http_off_ms"]["p50"], "ratio": 1.0},
        {"case": "call p50 via router, collection on", "ms_or_pct": calls["http_on_ms"]["p50"], "ratio": ratio},
        {"case": "WorkerManager.call p50, off", "ms_or_pct": calls["direct_off_ms"]["p50"], "ratio": 1.0},
        {"case": "WorkerManager.call p50, on", "ms_or_pct": calls["direct_on_ms"]["p50"],
         "ratio": calls["direct_p50_ratio"]},
        {"case": f"daemon CPU % idle, {idle['plugins']} plugins, off", "ms_or_pct": idle["off"]["cpu_pct"],
         "ratio": 1.0},
        {"case": f"daemon CPU % idle, {idle['plugins']} plugins, on", "ms_or_pct": idle["on"]["cpu_pct"],
         "ratio": idle["idle_cpu_ratio"]},
    ]
    return {"quick": quick, "calls": calls, "idle": idle, "p50_ratio": ratio,
            "direct_p50_ratio": calls["direct_p50_ratio"], "idle_cpu_ratio": idle["idle_cpu_ratio"],
            "idle_cpu_added_pct": idle["idle_cpu_added_pct"], "goal": {"p50_ratio": GOAL},
            "goal_met": ratio <= GOAL, "rows": rows}


def main() -> None:
    quick = "--quick" in sys.argv
    result = run(quick)
    print_table("cost of metrics collection (on vs off)", result["rows"])
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"\ncall p50 on/off: {result['p50_ratio']:.3f}x (goal <= {GOAL}x: {verdict}); idle daemon CPU added by "
          f"collection: {result['idle_cpu_added_pct']:.2f}% of a core")
    print(f"wrote {write_json('metrics', result)}")


if __name__ == "__main__":
    main()
