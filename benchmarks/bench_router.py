"""Router throughput: ``POST /v1/plugins/echo/run`` (Guard + router + channel + local worker echo) against a bare
Starlette echo endpoint on the same embedded uvicorn, in the same run. Goal: aiplugs >= 0.6x the bare requests/s.

Both servers run in this process's loop (as the daemon runs the router); the load comes from a separate process
(aiohttp, fixed concurrency) so the client does not steal the servers' loop. Phases alternate bare, aiplugs, bare,
aiplugs so drift on a shared machine hits both alike. Also printed: sequential p50 of a bare loopback HTTP
round trip vs a WorkerManager call over the socketpair channel (the measurement behind channel.py's choice), and
worker cold start (spawn -> backend imported and answered a ping) p50.

    python benchmarks/bench_router.py          # full
    python benchmarks/bench_router.py --quick  # small, < 60 s
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, summary, write_json  # noqa: E402

GOAL = 0.6
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"
PAYLOAD = {"text": "The quick brown fox jumps over the lazy dog.", "n": 42}

LOAD = r"""
import asyncio, json, sys, time
import aiohttp

url, token, duration, concurrency, payload = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]

async def main():
    latencies, errors = [], 0
    headers = {"Content-Type": "application/json", "X-AIPlugs-Token": token}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one():
            nonlocal errors
            start = time.perf_counter()
            async with session.post(url, data=payload, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)
        for _ in range(concurrency * 5):  # warm up connections and the worker
            await one()
        latencies.clear()
        deadline = time.perf_counter() + duration
        started = time.perf_counter()
        async def loop():
            while time.perf_counter() < deadline:
                await one()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    print(json.dumps({"requests": len(latencies), "seconds": elapsed, "errors": errors, "latencies": latencies}))

asyncio.run(main())
"""


async def _load(url: str, token: str, duration: float, concurrency: int) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOAD, url, token, str(duration), str(concurrency), json.dumps(PAYLOAD),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    data = json.loads(out)
    if data["errors"]:
        raise RuntimeError(f"{data['errors']} requests to {url} failed")
    return {"rps": data["requests"] / data["seconds"], "latencies_ms": [x * 1000 for x in data["latencies"]]}


def _bare_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(await request.json())

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])])


async def _serve_bare(app: Any) -> tuple[Any, asyncio.Task[None], int]:
    import socket

    import uvicorn

    from aiplugs.adapters.router.server import _server_class

    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as RouterServer does
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, log_level="warning",
                            http="h11", ws="websockets-sansio", server_header=False, proxy_headers=False)
    server = _server_class()(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, sock.getsockname()[1]


async def _bench(quick: bool) -> dict[str, Any]:
    from aiplugs.events import EventBus
    from aiplugs.adapters.router import RouterContext, RouterServer
    from aiplugs.plan import load_desired_state
    from aiplugs.adapters.workers import WorkerManager

    # concurrency 8: about what a few tabs of a browser (6 connections per host) put on the router
    duration, concurrency, rounds, cold_n, seq_n = (1.5, 8, 3, 5, 300) if quick else (5.0, 8, 4, 20, 2000)
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-router-") as tmp:
        root = Path(tmp)
        (root / "aiplugs.toml").write_text(f'plugins_dir = "{FIXTURES}"\nstate_dir = "state"\n'
                                           'models_dir = "models"\n[plugins.echo]\nworkers = 1\n')
        _, desired = load_desired_state(root / "aiplugs.toml", env={})
        spec = next(w for w in desired.workers if w.plugin_id == "echo")
        bus = EventBus()
        manager = WorkerManager(desired.state_dir, events=bus)

        cold_ms = []
        for _ in range(cold_n):
            start = time.perf_counter()
            await manager.start(spec, 0)
            cold_ms.append((time.perf_counter() - start) * 1000)
            await manager.stop("echo", 0)
        await manager.start(spec, 0)

        ctx = RouterContext(workers=manager, events=bus, admin_token="bench-admin", page_token="bench-page",
                            desired=desired, max_body_bytes=desired.max_body_bytes)
        ctx.set_route(desired.route("echo"))
        router = RouterServer(ctx)
        await router.start("127.0.0.1", 0)
        bare, bare_task, bare_port = await _serve_bare(_bare_app())
        try:
            import httpx

            seq_http, seq_channel = [], []
            async with httpx.AsyncClient() as client:
                for _ in range(seq_n):
                    start = time.perf_counter()
                    await client.post(f"http://127.0.0.1:{bare_port}/echo", json=PAYLOAD)
                    seq_http.append((time.perf_counter() - start) * 1000)
            for _ in range(seq_n):
                start = time.perf_counter()
                await manager.call("echo", PAYLOAD)
                seq_channel.append((time.perf_counter() - start) * 1000)

            bare_runs, ours_runs = [], []
            for _ in range(rounds):
                bare_runs.append(await _load(f"http://127.0.0.1:{bare_port}/echo", "-", duration, concurrency))
                ours_runs.append(await _load(f"{router.url}/v1/plugins/echo/run", "bench-page", duration,
                                             concurrency))
        finally:
            bare.should_exit = True
            await bare_task
            await router.stop()
            await manager.close()

    def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
        latencies = [x for r in runs for x in r["latencies_ms"]]
        return {"rps": sum(r["rps"] for r in runs) / len(runs), **{f"{k}_ms": v for k, v in summary(latencies).items()
                                                                    if k != "n"}, "n": len(latencies)}

    base, ours = merge(bare_runs), merge(ours_runs)
    ratio = ours["rps"] / base["rps"]
    cold = summary(cold_ms)
    rows = [
        {"case": "bare starlette echo", "rps": base["rps"], "p50_ms": base["p50_ms"], "p99_ms": base["p99_ms"],
         "ratio": 1.0},
        {"case": "aiplugs /v1/plugins/echo/run", "rps": ours["rps"], "p50_ms": ours["p50_ms"],
         "p99_ms": ours["p99_ms"], "ratio": ratio},
    ]
    return {
        "quick": quick, "phase_seconds": duration, "concurrency": concurrency, "rounds": rounds,
        "bare": base, "aiplugs": ours, "rps_ratio": ratio, "goal": GOAL, "goal_met": ratio >= GOAL,
        "cold_start_ms": cold,
        "sequential_p50_ms": {"loopback_http_bare": summary(seq_http)["p50"],
                              "socketpair_channel": summary(seq_channel)["p50"]},
        "rows": rows,
    }


def run(quick: bool = False) -> dict[str, Any]:
    return asyncio.run(_bench(quick))


def main() -> None:
    quick = "--quick" in sys.argv
    result = run(quick)
    print_table("router: POST echo, requests/s at fixed concurrency", result["rows"])
    seq = result["sequential_p50_ms"]
    print_table("channel choice: sequential round trip p50 (ms)", [
        {"transport": "loopback HTTP (bare uvicorn)", "p50_ms": seq["loopback_http_bare"]},
        {"transport": "socketpair frames (WorkerManager.call)", "p50_ms": seq["socketpair_channel"]},
    ])
    print(f"\nworker cold start (spawn -> ready) p50: {result['cold_start_ms']['p50']:.1f} ms "
          f"(n={result['cold_start_ms']['n']})")
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"aiplugs/bare requests/s ratio: {result['rps_ratio']:.2f}x (goal >= {GOAL}x: {verdict})")
    print(f"wrote {write_json('router', result)}")


if __name__ == "__main__":
    main()
