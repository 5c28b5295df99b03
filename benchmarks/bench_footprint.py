"""Idle memory: the aiplugs daemon running the shipped example against bare ``mitmdump``, and one worker of a
plugin that imports nothing. Goals: daemon VmRSS <= 1.1x mitmdump's, each such worker <= 25 MB.

Both sides are measured the same way, side by side: started, left to settle (a few seconds after they answer),
then ``VmRSS`` from ``/proc/<pid>/status``, sampled a few times (the median). The daemon comes up through the real
CLI (``aiplugs apply --auto-approve`` on a copy of ``aiplugs.toml`` + ``plugins/``, on free ports), so it runs what
a user's does: proxy, router, the example plugins' workers, metrics. ``mitmdump -q`` listens on loopback with its
default addons. The bare worker is the benchmark's echo fixture started through ``WorkerManager``.

What the memory is (tracemalloc and ``python -X importtime`` on the daemon): nearly all of the Python heap is
module code and data (classes, dataclass and attrs methods generated at import), so the daemon's RSS follows the
modules it imports; ``gc.collect()`` plus ``malloc_trim`` on an idle daemon frees ~0.2 MB, and fewer malloc arenas
change nothing: what is resident is live. Importing any ``mitmproxy.addons.<name>`` ran the package ``__init__``,
which imports every default addon of mitmdump and through them flask, werkzeug, ldap3, passlib (~320 modules,
~15 MB): the daemon registers that package without its ``__init__`` (``util/lean_import.py``), and likewise
``uvicorn`` (its command line: click, watchfiles, multiprocessing, ~2 MB). Then (issue 18) the web dashboard loads
on its first request (Jinja2 and ~20 modules, -1.9 MB; its event recorder still follows the bus from the start),
the package installer with the first install, and locks are ``flock(2)`` directly instead of ``filelock`` 4 (~24
modules): -0.5 MB together. Then (issue 18 item 4) manifest tool schemas that use the common keywords with plain
values are checked without jsonschema (``declaration/_plain_schema.py``; any other schema, and every bad one, still
goes to jsonschema, which the router loads on the first call of a tool with a schema): jsonschema, referencing,
rpds, idna (~2 MB with attrs' generated source); a model whose source is a local path or ``file:///`` URL is read
with ``open`` instead of fsspec (~0.8 MB); the package store (archive code, ``tarfile``) loads with the first
install; ``packaging.requirements`` with the first plugin that has requirements. Then the router speaks WebSocket through
uvicorn's ``wsproto`` protocol (mitmproxy loads wsproto anyway) instead of the ``websockets`` library (~0.8 MB,
17 modules), and prometheus_client is imported without its package ``__init__`` (``adapters/router/_prometheus.py``):
its exposition module, which imports ``http.server``, ``wsgiref`` and ``urllib.request`` for servers the router
never runs, loads on the first scrape of ``/metrics`` (~0.9 MB). Measured (3 rounds, median): 101.6 MB (1.39x
mitmdump's 73 MB) at first, 86.0 MB (1.20x) after the lean imports, 83.6 MB against 71.4 MB (1.17x) after the
dashboard, 79.5 MB against 71.4 MB (1.113x) after jsonschema and fsspec, 77.7-77.9 MB against 71.3 MB (1.09x)
after websockets and the exposition. Last, tomlkit (~0.8 MB, 11 modules) is no longer loaded at idle: the value
positions in ``aiplugs.toml`` are worked out when an error or ``Config.origin`` first asks, and the autotuner's
``aiplugs.toml`` edits import it with the first suggestion previewed or applied: 77.0 MB against 71.3-71.4 MB
now (1.08x). Then mitmproxy's command lexer is registered without the pyparsing grammar it builds at import
(``speedups.lean_commands``; the daemon never parses a command line): 75.0 MB against 71.3 MB (1.05x); and the
daemon runs on uvloop (``util/eventloop.py``, ≈1.9 MB for the import and its loop; ``bench_router``): 77.2 MB
(1.08x). Workers: 23.5-23.7 MB bare, 23.8 MB the largest example worker (goal met; they stay on asyncio's loop).

What the rest is (leave-one-out over the daemon's own module list, module memory only): pydantic +
pydantic-settings, ~7 MB (pydantic-core's shared library alone is 3.6 MB of resident pages; pydantic-settings pulls
in importlib.metadata, email, argparse, dotenv), plus the aiplugs models built on it. The declaration, the desired
state (``AutotuneConfig``, ``SecretStr``) and ``state.json`` are pydantic models, so a daemon without pydantic means
handing it its desired state as plain data built in another process: a rewrite of plan/ and store/, not a lazy
import. Without it the daemon would be ~72-73 MB (~1.02x, by that estimate). In use at idle and kept:
prometheus_client's metric classes, sqlite3 (the metrics history, 1.2 MB of library pages), the autotuner
(~0.5 MB), psutil, wsproto (the router's WebSocket endpoint).

    python benchmarks/bench_footprint.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import client_env, example_project, free_ports, print_table, rss_mb, write_json  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "plugins"
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]
GOALS = {"rss_ratio": 1.1, "bare_worker_mb": 25.0}


def settled_rss(pid: int, settle_s: float, samples: int = 5) -> float:
    """Median VmRSS over ``samples`` readings, 0.2 s apart, after ``settle_s`` seconds."""
    time.sleep(settle_s)
    values = []
    for _ in range(samples):
        values.append(rss_mb(pid))
        time.sleep(0.2)
    return statistics.median(values)


def daemon_rss(root: Path, settle_s: float) -> dict[str, Any]:
    """The shipped example through ``aiplugs apply``: the daemon's and each worker's settled VmRSS."""
    config = example_project(root)
    run = lambda *args: subprocess.run([*CLI, "-c", str(config), *args], cwd=root, env=client_env(),  # noqa: E731
                                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    try:
        applied = run("apply", "--auto-approve")
        if applied.returncode != 0:
            raise RuntimeError(f"aiplugs apply failed:\n{applied.stdout[-2000:]}\n{applied.stderr[-2000:]}")
        status = json.loads((lambda out: out[out.index("{"):])(run("status", "--json").stdout))
        daemon = int(status["daemon"]["pid"])
        workers = [int(p) for plugin in status["plugins"] for p in plugin.get("worker_pids", [])]
        rss = settled_rss(daemon, settle_s)
        return {"daemon_mb": rss, "workers_mb": [rss_mb(p) for p in workers]}
    finally:
        run("down")


def mitmdump_rss(confdir: Path, settle_s: float) -> float:
    port = free_ports(1)[0]
    proc = subprocess.Popen(["mitmdump", "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
                             "--set", f"confdir={confdir}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mitmdump did not start") from None
                time.sleep(0.1)
        return settled_rss(proc.pid, settle_s)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


async def bare_worker_rss(root: Path, settle_s: float) -> float:
    """A worker of the echo fixture (backend.py imports nothing), started as the daemon starts workers."""
    import psutil

    from aiplugs.adapters.workers import WorkerManager
    from aiplugs.events import EventBus
    from aiplugs.plan import load_desired_state

    root.mkdir(parents=True)
    (root / "aiplugs.toml").write_text(f'plugins_dir = "{FIXTURES}"\nstate_dir = "state"\nmodels_dir = "models"\n'
                                       "[plugins.echo]\nworkers = 1\n")
    _, desired = load_desired_state(root / "aiplugs.toml", env={})
    spec = next(w for w in desired.workers if w.plugin_id == "echo")
    manager = WorkerManager(desired.state_dir, events=EventBus())
    try:
        await manager.start(spec, 0)
        await manager.call("echo", {"ping": 1})
        pid = next(c.pid for c in psutil.Process().children(recursive=True)
                   if any("harness" in part for part in c.cmdline()))
        await asyncio.sleep(settle_s)
        return rss_mb(pid)
    finally:
        await manager.close()


def run(quick: bool = False) -> dict[str, Any]:
    settle_s = 3.0 if quick else 8.0
    rounds = 1 if quick else 3
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-footprint-") as tmp:
        runs = []
        for i in range(rounds):  # interleaved: mitmdump, then aiplugs, so load drift hits both alike
            base = mitmdump_rss(Path(tmp) / f"mitm{i}", settle_s)
            ours = daemon_rss(Path(tmp) / f"project{i}", settle_s)
            runs.append({"mitmdump_mb": base, **ours})
        worker = asyncio.run(bare_worker_rss(Path(tmp) / "bare", settle_s))
    return digest(runs, worker, quick)


def digest(runs: list[dict[str, Any]], bare_worker_mb: float, quick: bool) -> dict[str, Any]:
    base = statistics.median(r["mitmdump_mb"] for r in runs)
    ours = statistics.median(r["daemon_mb"] for r in runs)
    workers = [w for r in runs for w in r["workers_mb"]]
    result = {
        "quick": quick, "rounds": len(runs), "runs": runs, "mitmdump_mb": base, "daemon_mb": ours,
        "rss_ratio": ours / base, "example_workers_mb": max(workers) if workers else None,
        "bare_worker_mb": bare_worker_mb, "goal": GOALS,
    }
    result["goal_met"] = result["rss_ratio"] <= GOALS["rss_ratio"] and bare_worker_mb <= GOALS["bare_worker_mb"]
    return result


def report(result: dict[str, Any]) -> None:
    print_table("idle VmRSS (MB, median), side by side", [
        {"process": "bare mitmdump -q", "rss_mb": result["mitmdump_mb"], "ratio": 1.0, "goal": ""},
        {"process": "aiplugs daemon (shipped example)", "rss_mb": result["daemon_mb"], "ratio": result["rss_ratio"],
         "goal": "<= 1.1x"},
        {"process": "worker, example plugin (largest)", "rss_mb": result["example_workers_mb"], "ratio": None,
         "goal": ""},
        {"process": "worker, plugin importing nothing", "rss_mb": result["bare_worker_mb"], "ratio": None,
         "goal": "<= 25 MB"},
    ])
    print(f"\ngoals met: {result['goal_met']}")


if __name__ == "__main__":
    outcome = run(quick="--quick" in sys.argv)
    report(outcome)
    print(f"wrote {write_json('footprint', outcome)}")
