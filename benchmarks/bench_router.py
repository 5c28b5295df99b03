"""Router throughput and latency: ``POST /v1/plugins/echo/run`` (guard + router + channel + local worker echo)
against a bare Starlette echo endpoint under the same uvicorn settings (httptools parser, TCP_NODELAY), side by
side in the same run. Goals: aiplugs >= 0.6x the bare requests/s at concurrency 8, and p50 latency added per call
<= 0.3 ms over bare (sequential calls, concurrency 1).

Both servers run in this process's loop (as the daemon runs the router); the load comes from a separate process
(aiohttp, fixed concurrency) so the client does not steal the servers' loop. Phases alternate bare and aiplugs,
each first in half the rounds, so drift on a shared machine hits both alike. Each phase also reports CPU time per
request of the server process (this one), of the worker and of the load generator: on two cores every process
competes for the same CPUs, so requests/s follow total CPU per request, and the split says where a ratio comes
from. Also printed: a
sequential round trip over the worker channel alone (``WorkerManager.call``) and worker cold start p50.

Profile before issue 18 item 2 (py-spy --gil on the router under load; CPU time per request from /proc): with
h11 on both sides the HTTP parser and serializer were ~45 % of the router's CPU, so both sides use httptools
(≈55 µs of server CPU per bare echo request). The router then spent ≈150-160 µs of CPU per call and the echo
worker ≈100 (≈70 user + ≈25 system), for a ratio of 0.34-0.39x and ≈0.40 ms added p50: the Starlette + four
guard middlewares stack ~25 %, the worker round trip ~18 %, the response cache's lookup (json-encoding every
payload to count repeats, even with caching off) ~10 %, the Host check ~8 % (memoized since), metrics ~4 %.

What changed in the first round: one ``Guard`` middleware applies the four rules with the deciding headers picked once; plugin
calls are a plain ASGI app (no Request/Response objects) answering with the worker's result JSON as the frame
carried it (no decode-then-encode), and frame the request body as sent (``protocol.Encoded``); repeats are
counted by a hash of the body when the plugin has no cache; frames share one JSON encoder; in the worker, sync
code goes straight to the executor and its outcomes come back to the loop through one hand-over list (one
wake-up for many), not a task + future chain per call (that was ~25 % of the worker's CPU).

After the first round (the shared 2-core box, a test suite running alongside; full run: bare 9719 req/s, ours
4383): router ≈120-130 µs of CPU per call, worker ≈70-85 µs, load generator ≈125-140 (≈95-100 for the bare
echo); ratio 0.45-0.49x (full 0.45), added p50 0.32-0.35 ms (full 0.341), the channel alone 0.13 ms p50. Left in
the router then: Starlette's ExceptionMiddleware and routing ~10 %, the channel's StreamReader read loop ~7 %,
metrics ~5 % (prometheus_client ``labels()`` per call).

Second round: ``Metrics.observe`` keeps the labelled children per (plugin, mode, status) (5.7 -> 2.4 % of the
router's CPU; same series); ``Pool.pick`` builds no list; a ``PluginCalls`` middleware after the guard sends
``POST /v1/plugins/{id}/run`` and ``/tools/{tool}`` straight to their endpoints, past Starlette's exception
middleware and router (everything else, 405s and redirects included, still goes through Starlette); both ends
of the channel read frames with an asyncio protocol (``protocol.FrameLink``: each frame handled in
``data_received``, no read loop task, one loop pass less per frame); the worker writes the answers of sync code
in the same loop pass that takes their outcomes back; small frames encode with a C encoder built once.

Now (same box; quick runs 0.50-0.64x as the load around it came and went; full run while the box's load went
from 1 to 4: bare 6503 req/s, ours 3822): router ≈100-110 µs of CPU per call (from ≈125), worker ≈58-78 (from
≈75), load generator ≈115-130 against ≈93-100 for the bare echo; ratio 0.59x full (0.45 before), added p50
0.289 ms full, 0.25-0.31 quick (0.341 before), the channel alone 0.09-0.12 ms p50 (0.13 before). Of the
router's on-CPU time (py-spy --gil): uvicorn's HTTP protocol, httptools and the answer's send path ~30 %, the
guard ~12 % (tokens, body limit, Host, header picking), the worker round trip ~30 % (``WorkerManager.request``:
frame encode and write ~8 %, Reply and Call bookkeeping; frame read and decode ~6 %), body JSON decode ~5 %,
repeat counting ~4 %, metrics ~2.5 %, ``PluginCalls`` ~2 %. Of the worker's: taking the frame and handing it to
a thread ~25 %, taking the outcome back and writing the answer ~35 % (its JSON encode most of it), the thread
itself ~10 %, the rest the loop and its syscalls.

Third round (strace, perf and /proc on the worker: py-spy counts a thread inside a syscall as busy, which hid
this): each read of the channel was asyncio's ``recv(256 KiB)``, which glibc served with mmap + mremap + munmap
(a fresh 256 KiB buffer and its page faults per frame): ``FrameLink`` is now a buffered protocol reading into
one reused buffer. And the thread that ran sync code handed its outcome back to the loop (a self-pipe write, a
loop wake-up and pass, two GIL hand-offs) only for the loop to write the answer: the thread now writes a plain
answer to the socket itself, under the lock the loop writes under, when nothing is waiting to go before it. The
channel alone: ≈10-13k sequential calls/s (from ≈7.7-9k), worker ≈38-46 µs of CPU per call (from ≈85-100);
at concurrency 8 ≈37-44k calls/s (from ≈25-29k). Through the router the worker costs ≈56-63 µs per HTTP call
(from ≈70-76) and the router is unchanged (≈100-107): full run 0.56x (bare 7747 req/s, ours 4364; added p50
0.249 ms), quick runs 0.53-0.76x as the box's other load (a test suite beside it) came and went.

Fourth round (``perf stat`` on the worker: 4.3 context switches per call): the worker's sync code ran on a
``ThreadPoolExecutor``, which wakes a thread for every call it is given; the router writes the frames of one loop
pass together, so a burst of eight calls woke up to six threads that took turns at the GIL. A
``workers.sync_executor.SyncExecutor`` now takes a burst on one thread and adds one only when the call at the head
of its queue has waited 2 ms (a call that blocks still gets company, as before, up to the same number of
threads): 1.4-1.6 context switches per call, the worker ≈38-50 µs of CPU per HTTP call (from ≈56-63). Quick runs
0.62-0.67x, full runs 0.58, 0.59, 0.62, 0.63, 0.65x (bare 11.1-12.2k req/s, ours 7.1-7.6k; the 0.58 one in a run
where the bare echo too fell to 9.3k), added p50 0.18-0.20 ms.

Where 0.6x sits: on two cores requests/s follow the CPU all three processes spend per request. The bare echo
costs ≈50 (server) + ≈88 (load generator) ≈140 µs; ours ≈100 (router) + ≈45 (worker) + ≈102 ≈250 µs, so
≈0.56x by CPU, 0.58-0.67x measured (the processes overlap on two cores). The load generator itself spends
≈15 µs more per request on ours than on the bare echo with the same answer headers: at concurrency 8 a slower
answer means fewer answers per wake-up of its loop. The router's own share past the bare server (≈50 µs: the
guard ≈12, the request and reply frames and the reply's wake-up ≈20, body JSON ≈5, repeat counting and metrics
≈6) is spread thin over many small parts; what is left of the worker is the process hop itself (its reads,
writes and wake-ups), which is the design (a plugin that crashes or leaks cannot take the router with it), not
an overhead. An earlier experiment that ran sync code inline on the worker's loop (no thread) did not lower the
worker's CPU the way one thread per burst did: the pool's many threads, not the one hand-over, were the cost.
Tried and dropped: writing each frame to the worker at once instead of once per loop pass (more wake-ups).
Sequentially the added ≈0.2 ms is mostly waiting on wake-ups.

Fifth round. Full runs on asyncio's loop: 0.641, 0.584, 0.647, 0.574x, and 0.559x with the phases in balanced
order (bare 11.2-12.5k req/s): at the line. Switched off one at a time, the guard saved ≈5 µs of router CPU per
call, repeat counting and the cache lookup ≈1.4 µs and metrics ≈0.8 µs (timeit; under load a little more): nothing
left there is worth 5 %. Per call the router's loop runs ≈2 handles more than the bare echo's (the worker
channel's reads, 0.4 per call; its flush, 0.6; the reply's task wake-up, 1), so the loop itself is the lever: the
daemon now runs on uvloop (``util/eventloop.py``), and this suite runs both servers on the daemon's loop, so
both sides still share every setting. Router ≈86-94 µs per call (from ≈102), bare ≈40-45 (from ≈50); ratio
0.687x and 0.660x in full runs (ours 7.6-7.9k req/s, bare 11.4-11.6k, bound by the load generator), 0.71x
quick. uvloop costs the daemon ≈1.9 MB of idle RSS; the room came from mitmproxy's command lexer, which no
longer builds its pyparsing grammar in the daemon (``speedups.lean_commands``, -2.8 MB; ``bench_footprint``).

    python benchmarks/bench_router.py          # full
    python benchmarks/bench_router.py --quick  # small, < 60 s
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, rounds as balanced, summary, write_json  # noqa: E402

GOAL = 0.6
ADDED_P50_GOAL_MS = 0.3
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
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"requests": len(latencies), "seconds": elapsed, "errors": errors, "latencies": latencies,
                      "cpu_s": usage.ru_utime + usage.ru_stime, "total": len(latencies) + concurrency * 5}))

asyncio.run(main())
"""


async def _load(url: str, token: str, duration: float, concurrency: int, worker_pid: int | None = None
                ) -> dict[str, Any]:
    """One phase: the load generator's requests/s and latencies, and CPU µs per request of this process (the
    servers), of the worker (when given) and of the load generator."""
    before = (time.process_time(), _cpu_s(worker_pid))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOAD, url, token, str(duration), str(concurrency), json.dumps(PAYLOAD),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    data = json.loads(out)
    if data["errors"]:
        raise RuntimeError(f"{data['errors']} requests to {url} failed")
    per = 1e6 / data["total"]
    cpu = {"server_us": (time.process_time() - before[0]) * per, "worker_us": (_cpu_s(worker_pid) - before[1]) * per,
           "loadgen_us": data["cpu_s"] * per}
    return {"rps": data["requests"] / data["seconds"], "latencies_ms": [x * 1000 for x in data["latencies"]],
            "cpu": cpu}


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of ``pid`` so far (0 without one)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

    from aiplugs.adapters.router.server import _server_class, _uvicorn

    uvicorn = _uvicorn()  # as RouterServer imports it

    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as RouterServer does
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.setblocking(False)
    config = uvicorn.config.Config(app, lifespan="off", log_config=None, access_log=False, log_level="warning",
                            http="httptools", ws="wsproto", server_header=False, proxy_headers=False)
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
    seq_duration = duration / 2
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
            seq_channel = []
            for _ in range(seq_n):
                start = time.perf_counter()
                await manager.call("echo", PAYLOAD)
                seq_channel.append((time.perf_counter() - start) * 1000)
            worker_pid = _worker_pid()
            bare_url, ours_url = f"http://127.0.0.1:{bare_port}/echo", f"{router.url}/v1/plugins/echo/run"
            runs: dict[str, list[dict[str, Any]]] = {"bare": [], "ours": [], "bare_seq": [], "ours_seq": []}
            targets = {"bare": (bare_url, "-"), "ours": (ours_url, "bench-page")}
            order = balanced(list(targets))  # bare first in half the rounds, ours in the other half
            for i in range(rounds):
                for name in order(i):
                    runs[name].append(await _load(*targets[name], duration, concurrency, worker_pid))
                for name in order(i):
                    runs[f"{name}_seq"].append(await _load(*targets[name], seq_duration, 1))
        finally:
            bare.should_exit = True
            await bare_task
            await router.stop()
            await manager.close()

    return digest(runs, cold_ms, seq_channel, quick=quick, duration=duration, concurrency=concurrency,
                  rounds=rounds)


def _worker_pid() -> int | None:
    """The echo worker: the one child of this process running the worker harness."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            if any("harness" in part for part in child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Phases of one side → mean requests/s, latency percentiles over every request, median CPU per request."""
    latencies = [x for r in runs for x in r["latencies_ms"]]
    cpu = {k: statistics.median(r["cpu"][k] for r in runs) for k in runs[0]["cpu"]}
    return {"rps": sum(r["rps"] for r in runs) / len(runs),
            **{f"{k}_ms": v for k, v in summary(latencies).items() if k != "n"}, "n": len(latencies), "cpu_us": cpu}


def digest(runs: dict[str, list[dict[str, Any]]], cold_ms: list[float], seq_channel: list[float], *, quick: bool,
           duration: float, concurrency: int, rounds: int) -> dict[str, Any]:
    """Raw phases → the result (no side effects)."""
    base, ours = merge(runs["bare"]), merge(runs["ours"])
    base_seq, ours_seq = merge(runs["bare_seq"]), merge(runs["ours_seq"])
    ratio = ours["rps"] / base["rps"]
    added = ours_seq["p50_ms"] - base_seq["p50_ms"]
    rows = [
        {"case": "bare starlette echo", "rps": base["rps"], "p50_ms": base["p50_ms"], "p99_ms": base["p99_ms"],
         "seq_p50_ms": base_seq["p50_ms"], "server_cpu_us": base["cpu_us"]["server_us"], "worker_cpu_us": 0.0,
         "loadgen_cpu_us": base["cpu_us"]["loadgen_us"], "ratio": 1.0},
        {"case": "aiplugs /v1/plugins/echo/run", "rps": ours["rps"], "p50_ms": ours["p50_ms"],
         "p99_ms": ours["p99_ms"], "seq_p50_ms": ours_seq["p50_ms"], "server_cpu_us": ours["cpu_us"]["server_us"],
         "worker_cpu_us": ours["cpu_us"]["worker_us"], "loadgen_cpu_us": ours["cpu_us"]["loadgen_us"],
         "ratio": ratio},
    ]
    return {
        "quick": quick, "phase_seconds": duration, "concurrency": concurrency, "rounds": rounds, "http": "httptools",
        "bare": base, "aiplugs": ours, "bare_sequential": base_seq, "aiplugs_sequential": ours_seq,
        "rps_ratio": ratio, "added_p50_ms": added,
        "goal": {"rps_ratio": GOAL, "added_p50_ms": ADDED_P50_GOAL_MS},
        "goal_met": ratio >= GOAL and added <= ADDED_P50_GOAL_MS,
        "cold_start_ms": summary(cold_ms), "channel_sequential_p50_ms": summary(seq_channel)["p50"], "rows": rows,
    }


def run(quick: bool = False) -> dict[str, Any]:
    from aiplugs.util import eventloop

    return eventloop.run(_bench(quick))  # both servers on the daemon's loop (its settings: the same for both)


def report(result: dict[str, Any]) -> None:
    print_table("router: POST echo at concurrency 8 (rps, latency) and sequentially (seq_p50_ms); CPU µs per "
                "request", result["rows"])
    print(f"\nworker channel alone (WorkerManager.call), sequential p50: "
          f"{result['channel_sequential_p50_ms']:.3f} ms; worker cold start (spawn -> ready) p50: "
          f"{result['cold_start_ms']['p50']:.1f} ms (n={result['cold_start_ms']['n']})")
    print(f"aiplugs/bare requests/s: {result['rps_ratio']:.2f}x (goal >= {GOAL}x); p50 added per call: "
          f"{result['added_p50_ms']:.3f} ms (goal <= {ADDED_P50_GOAL_MS} ms); goals met: {result['goal_met']}")


def main() -> None:
    result = run("--quick" in sys.argv)
    report(result)
    print(f"wrote {write_json('router', result)}")


if __name__ == "__main__":
    main()
