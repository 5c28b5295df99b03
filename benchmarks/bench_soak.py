"""Soak: mixed page loads and plugin calls at concurrency 20 against the real system, calm and with faults.

Each run gets a fresh copy of the shipped example (``aiplugs.toml`` + ``plugins/``) on fixed free ports, started
with the real CLI (``aiplugs apply --auto-approve``), and an origin in its own process serving an HTML page on
127.0.0.1 (word-count and sentiment match ``http://127.0.0.1/*``). Twenty clients in this process alternate:

* a page load through the proxy (``Accept: text/html``): ok when 200 and the page carries the injected loader;
* a word-count call straight to the API (``POST /v1/plugins/word-count/run``, page token): ok when 200.

The calm run goes first, then the faulty run: every 30 s a word-count worker is SIGKILLed, and every 60 s (halfway
between two kills, so no failure is blamed on the wrong fault) ``aiplugs apply --auto-approve`` switches
word-count between 1 and 2 workers. A call answered 502/503 while its request overlapped the 2 s after a kill is
an "error during recovery", reported on its own; every other non-ok answer is a failure.

Goals: failures 0 in both runs; daemon RSS growth (VmRSS at the end against after the 5 s warm-up) < 10 %; faulty
p99 <= 3x calm p99 (generous: the faults are meant to hurt a little); every apply succeeds and ``aiplugs down``
leaves no process behind. Latency counts every measured request, failed or not.

    python benchmarks/bench_soak.py                    # full: 10 minutes per run
    python benchmarks/bench_soak.py --quick            # 20 s per run, a kill every 5 s, an apply every 10 s
    python benchmarks/bench_soak.py --duration 120     # any length
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import client_env, free_ports, print_table, rss_mb, summary, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]
# The runner's table shows "ratio" keys with three decimals: failures per million requests, RSS growth in percent.
GOALS = {"failure_ratio_ppm_calm": 0, "failure_ratio_ppm_faults": 0, "rss_growth_ratio_pct_calm": 10,
         "rss_growth_ratio_pct_faults": 10, "p99_ratio": 3.0}
LOADER = b'data-aiplugs="loader"'
TEXT = "The quick brown fox jumps over the lazy dog while a great and wonderful demo counts its lovely words. " * 8
RECOVERABLE = (502, 503)
Fault = Literal["kill", "apply"]


@dataclass(frozen=True)
class Schedule:
    duration_s: float
    kill_every_s: float
    apply_every_s: float
    warmup_s: float = 5.0
    concurrency: int = 20
    recovery_window_s: float = 2.0

    @classmethod
    def of(cls, quick: bool, duration_s: float | None = None) -> Schedule:
        base = cls(20.0, 5.0, 10.0) if quick else cls(600.0, 30.0, 60.0)
        return base if duration_s is None else cls(duration_s, base.kill_every_s, base.apply_every_s)

    def faults(self) -> list[tuple[float, Fault]]:
        """When (seconds into the measured window) each fault fires: kills at k·kill_every, applies at
        kill_every/2 + k·apply_every."""
        kills = [(k * self.kill_every_s, "kill") for k in range(1, int(self.duration_s / self.kill_every_s) + 1)]
        applies = [(self.kill_every_s / 2 + k * self.apply_every_s, "apply") for k in range(int(self.duration_s))]
        return sorted((t, f) for t, f in kills + applies if t < self.duration_s)  # type: ignore[misc]


@dataclass(frozen=True)
class Sample:
    kind: Literal["page", "call"]
    start: float
    end: float
    status: int  # 0: no HTTP answer
    ok: bool
    error: str = ""
    detail: str = ""  # the start of a failed answer's body


# ---- the system under test ---------------------------------------------------------------------------------------

class Project:
    """A copy of the shipped example on fixed free ports, driven through the real CLI."""

    def __init__(self, root: Path) -> None:
        import shutil

        self.root, self.config, self.state_dir = root, root / "aiplugs.toml", root / ".aiplugs"
        root.mkdir(parents=True)
        shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.api_port, self.proxy_port = free_ports(2)
        self.env = client_env()
        self.seen: set[Any] = set()  # psutil.Process of the daemon and every worker seen: what down ends
        self.write_config(word_count_workers=1)

    def write_config(self, word_count_workers: int) -> None:
        import tomlkit

        doc = tomlkit.parse((REPO / "aiplugs.toml").read_text())
        doc["api"]["port"], doc["proxy"]["port"] = self.api_port, self.proxy_port  # type: ignore[index]
        doc["plugins"]["word-count"]["workers"] = word_count_workers  # type: ignore[index]
        temp = self.config.with_suffix(".toml.tmp")
        temp.write_text(tomlkit.dumps(doc))
        os.replace(temp, self.config)

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, "-c", str(self.config), *args], capture_output=True, text=True, env=self.env,
                              cwd=self.root, timeout=timeout, stdin=subprocess.DEVNULL)

    async def acli(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "-c", str(self.config), *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=self.env, cwd=self.root)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    def remember(self, status: dict[str, Any]) -> dict[str, Any]:
        pids = [status["daemon"]["pid"], *(p for plugin in status["plugins"] for p in plugin["worker_pids"])]
        self.seen.update(_processes(pids))
        return status

    async def status(self) -> dict[str, Any]:
        _, out = await self.acli("status", "--json")
        return self.remember(json.loads(out[out.index("{"):]))

    def down(self) -> int:
        """``aiplugs down``, then SIGKILL whatever of ours still runs 5 s later; returns how many were left."""
        try:
            self.seen.update(_processes([int((self.state_dir / "daemon.pid").read_text())]))
        except (OSError, ValueError):
            pass
        for proc in list(self.seen):  # workers never seen in a status too
            self.seen.update(_children(proc))
        try:
            self.cli("down", timeout=120)
        finally:
            deadline = time.monotonic() + 5
            while (left := [p for p in self.seen if _alive(p)]) and time.monotonic() < deadline:
                time.sleep(0.1)
            for proc in left:
                proc.kill()
        return len(left)


def _processes(pids: list[int]) -> set[Any]:
    import psutil

    found = set()
    for pid in pids:
        try:
            found.add(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def _children(proc: Any) -> list[Any]:
    import psutil

    try:
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(proc: Any) -> bool:
    """Running and not a zombie (the daemon is nobody's child here: it waits for init to reap it); is_running
    compares create times, so a reused pid is not mistaken for ours."""
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _serve_origin() -> None:
    """Child: an aiohttp origin on a free port serving one HTML page; prints the port, serves until stdin ends."""
    from aiohttp import web

    body = ("<!doctype html><html><head><meta charset=utf-8><title>soak</title></head><body>"
            + "".join(f"<p>{TEXT}</p>\n" for _ in range(10)) + "</body></html>").encode()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


@contextmanager
def _origin() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-origin"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line.strip():
            raise RuntimeError("the origin did not start")
        yield int(line)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.terminate()
        proc.wait(10)


# ---- one run -----------------------------------------------------------------------------------------------------

async def _client(session: Any, n: int, project: Project, origin: int, token: str, until: float,
                  samples: list[Sample]) -> None:
    import aiohttp

    page = f"http://127.0.0.1:{origin}/article/{n}"
    proxy = f"http://127.0.0.1:{project.proxy_port}"
    call = f"http://127.0.0.1:{project.api_port}/v1/plugins/word-count/run"
    headers = {"X-AIPlugs-Token": token, "Content-Type": "application/json"}
    payload = json.dumps({"text": TEXT}).encode()
    i = n
    while time.monotonic() < until:
        kind: Literal["page", "call"] = "page" if i % 2 == 0 else "call"
        i += 1
        start, status, ok, error, body = time.monotonic(), 0, False, "", b""
        try:
            if kind == "page":
                async with session.get(page, proxy=proxy, headers={"Accept": "text/html"}) as r:
                    status, body = r.status, await r.read()
                    ok = status == 200 and LOADER in body
                    error = "" if ok else f"HTTP {status}" + ("" if status != 200 else " without the loader")
            else:
                async with session.post(call, data=payload, headers=headers) as r:
                    status, body = r.status, await r.read()
                    ok = status == 200
                    error = "" if ok else f"HTTP {status}"
        except (TimeoutError, aiohttp.ClientError) as e:
            error = type(e).__name__
        detail = "" if ok else body[:300].decode(errors="replace")
        samples.append(Sample(kind, start, time.monotonic(), status, ok, error, detail))


async def _faults(project: Project, schedule: Schedule, t0: float, kills: list[dict[str, Any]],
                  applies: list[dict[str, Any]]) -> None:
    for at, fault in schedule.faults():
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        if fault == "kill":
            word = next(p for p in (await project.status())["plugins"] if p["id"] == "word-count")
            if word["worker_pids"]:
                pid = word["worker_pids"][len(kills) % len(word["worker_pids"])]
                os.kill(pid, signal.SIGKILL)
                kills.append({"at": time.monotonic(), "workers": len(word["worker_pids"])})
        else:
            workers = 2 if len(applies) % 2 == 0 else 1
            project.write_config(word_count_workers=workers)
            start = time.monotonic()
            rc, out = await project.acli("apply", "--auto-approve")
            applies.append({"at_s": start - t0, "workers": workers, "rc": rc, "seconds": time.monotonic() - start,
                            **({} if rc == 0 else {"output": out[-1000:]})})


async def _drive(project: Project, origin: int, schedule: Schedule, faulty: bool) -> dict[str, Any]:
    import aiohttp

    status = await project.status()
    daemon = status["daemon"]["pid"]
    token = (project.state_dir / "page.token").read_text().strip()
    samples: list[Sample] = []
    kills: list[dict[str, Any]] = []
    applies: list[dict[str, Any]] = []
    begin = time.monotonic()
    t0, until = begin + schedule.warmup_s, begin + schedule.warmup_s + schedule.duration_s
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        clients = [asyncio.create_task(_client(session, n, project, origin, token, until, samples))
                   for n in range(schedule.concurrency)]
        await asyncio.sleep(schedule.warmup_s)
        rss_start = rss_mb(daemon)
        if faulty:
            await _faults(project, schedule, t0, kills, applies)
        await asyncio.gather(*clients)
    rss_end = rss_mb(daemon)
    measured = time.monotonic() - t0
    end_status = await project.status()
    return {"samples": [s for s in samples if s.start >= t0], "t0": t0, "seconds": measured, "kills": kills,
            "applies": applies, "rss_start_mb": rss_start, "rss_end_mb": rss_end,
            "daemon_pid_changed": end_status["daemon"]["pid"] != daemon, "healthy_at_end": end_status["healthy"],
            "restarts": sum(p.get("restarts", 0) for p in end_status["plugins"])}


def classify(samples: list[Sample], kills: list[float], window: float) -> tuple[list[Sample], list[Sample]]:
    """(failures, errors during recovery): a call answered 502/503 whose request overlapped [kill, kill+window]
    is recovery; any other sample that is not ok is a failure."""
    failures, recovery = [], []
    for s in samples:
        if s.ok:
            continue
        excused = s.kind == "call" and s.status in RECOVERABLE and _kill_before(s, kills, window) is not None
        (recovery if excused else failures).append(s)
    return failures, recovery


def _kill_before(sample: Sample, kills: list[float], window: float) -> float | None:
    """The latest kill whose recovery window the request overlapped."""
    return max((k for k in kills if sample.start <= k + window and sample.end >= k), default=None)


def digest(raw: dict[str, Any], window: float) -> dict[str, Any]:
    """One run's raw samples and events → counts, latency and memory (no side effects)."""
    samples: list[Sample] = raw["samples"]
    kills = [k["at"] for k in raw["kills"]]
    failures, recovery = classify(samples, kills, window)
    latency = summary(1000 * (s.end - s.start) for s in samples)
    reasons: dict[str, int] = {}
    for s in failures:
        reasons[f"{s.kind}: {s.error}"] = reasons.get(f"{s.kind}: {s.error}", 0) + 1
    per_kill = []
    for kill in raw["kills"]:
        mine = [s for s in recovery if _kill_before(s, kills, window) == kill["at"]]
        per_kill.append({"at_s": kill["at"] - raw["t0"], "workers_before": kill["workers"], "errors": len(mine),
                         "last_error_after_s": max((s.end - kill["at"] for s in mine), default=0.0)})
    return {
        "requests": len(samples), "pages": sum(s.kind == "page" for s in samples),
        "calls": sum(s.kind == "call" for s in samples), "rps": len(samples) / raw["seconds"],
        "failures": len(failures), "failure_reasons": reasons, "errors_during_recovery": len(recovery),
        "first_failures": [{"kind": s.kind, "at_s": s.start - raw["t0"], "seconds": s.end - s.start,
                            "status": s.status, "error": s.error, "detail": s.detail} for s in failures[:20]],
        "p50_ms": latency["p50"], "p99_ms": latency["p99"],
        "p99_ms_by_kind": {k: summary(1000 * (s.end - s.start) for s in samples if s.kind == k)["p99"]
                           for k in ("page", "call")},
        "rss_growth": (raw["rss_end_mb"] - raw["rss_start_mb"]) / raw["rss_start_mb"],
        "kills": len(raw["kills"]), "recovery_per_kill": per_kill,
        "longest_recovery_s": max((k["last_error_after_s"] for k in per_kill), default=0.0),
        **{k: v for k, v in raw.items() if k not in ("samples", "kills", "t0")},
    }


def soak(root: Path, origin: int, schedule: Schedule, faulty: bool) -> dict[str, Any]:
    project = Project(root)
    leftovers = 0
    try:
        applied = project.cli("apply", "--auto-approve")
        if applied.returncode != 0:
            raise RuntimeError(f"aiplugs apply failed ({applied.returncode}):\n{applied.stdout[-2000:]}"
                               f"\n{applied.stderr[-2000:]}")
        raw = asyncio.run(_drive(project, origin, schedule, faulty))
    finally:
        leftovers = project.down()
    return {**digest(raw, schedule.recovery_window_s), "leftovers_after_down": leftovers}


# ---- the suite ---------------------------------------------------------------------------------------------------

def run(quick: bool = False, *, duration_s: float | None = None, schedule: Schedule | None = None) -> dict[str, Any]:
    schedule = schedule or Schedule.of(quick, duration_s)
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-soak-") as tmp, _origin() as origin:
        for name, faulty in (("calm", False), ("faults", True)):
            print(f"soak: {name} run, {schedule.duration_s:g} s at concurrency {schedule.concurrency}", flush=True)
            runs[name] = soak(Path(tmp) / name, origin, schedule, faulty)
    calm, faults = runs["calm"], runs["faults"]
    result: dict[str, Any] = {
        "quick": quick, "schedule": asdict(schedule), "calm": calm, "faults": faults,
        "failure_ratio_ppm_calm": 1e6 * calm["failures"] / max(calm["requests"], 1),
        "failure_ratio_ppm_faults": 1e6 * faults["failures"] / max(faults["requests"], 1),
        "rss_growth_ratio_pct_calm": 100 * calm["rss_growth"],
        "rss_growth_ratio_pct_faults": 100 * faults["rss_growth"],
        "p99_ratio": faults["p99_ms"] / calm["p99_ms"], "rps_ratio": faults["rps"] / calm["rps"],
        "goal": GOALS,
    }
    result["goal_met"] = (calm["failures"] == 0 and faults["failures"] == 0 and calm["requests"] > 0
                          and faults["requests"] > 0
                          and result["rss_growth_ratio_pct_calm"] < GOALS["rss_growth_ratio_pct_calm"]
                          and result["rss_growth_ratio_pct_faults"] < GOALS["rss_growth_ratio_pct_faults"]
                          and result["p99_ratio"] <= GOALS["p99_ratio"]
                          and not any(a["rc"] for a in faults["applies"])
                          and calm["leftovers_after_down"] == faults["leftovers_after_down"] == 0)
    result["rows"] = rows(result)
    report(result)
    return result


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    calm, faults = result["calm"], result["faults"]
    line = [("requests", "requests", ""), ("requests/s", "rps", ""), ("failures", "failures", "0"),
            ("errors during recovery", "errors_during_recovery", "(reported)"),
            ("last recovery error after kill, s (max)", "longest_recovery_s", ""), ("p50 ms", "p50_ms", ""),
            ("p99 ms", "p99_ms", f"faults <= {GOALS['p99_ratio']:g}x calm"),
            ("daemon RSS start MB", "rss_start_mb", ""), ("daemon RSS end MB", "rss_end_mb", ""),
            ("daemon RSS growth %", "rss_growth", "< 10"), ("workers killed", "kills", ""),
            ("applies (failed)", "applies", "(0 failed)"), ("processes left after down", "leftovers_after_down", "0")]
    out = []
    for label, key, goal in line:
        c, f = calm[key], faults[key]
        if key == "rss_growth":
            c, f = 100 * c, 100 * f
        if key == "applies":
            c, f = (f"{len(v)} ({sum(a['rc'] != 0 for a in v)})" for v in (c, f))
        out.append({"metric": label, "calm": c, "faults": f, "goal": goal})
    return out


def report(result: dict[str, Any]) -> None:
    s = result["schedule"]
    print_table(f"soak: {s['duration_s']:g} s per run, concurrency {s['concurrency']}, faults = a worker SIGKILLed "
                f"every {s['kill_every_s']:g} s + an apply every {s['apply_every_s']:g} s", result["rows"])
    for name in ("calm", "faults"):
        one = result[name]
        if one["failures"]:
            when = ", ".join(f"{f['at_s']:.1f}" for f in one["first_failures"][:10])
            print(f"{name} failures: {one['failure_reasons']}; the first started at {when} s")
    faults = result["faults"]
    if faults["kills"] or faults["applies"]:
        print("faults: kills at " + ", ".join(f"{k['at_s']:.1f}" for k in faults["recovery_per_kill"])
              + " s; applies at " + ", ".join(f"{a['at_s']:.1f}-{a['at_s'] + a['seconds']:.1f}"
                                             for a in faults["applies"]) + " s")
    print(f"p99 faults/calm: {result['p99_ratio']:.2f}x; goals met: {result['goal_met']}")


def main(argv: list[str]) -> int:
    duration = float(argv[argv.index("--duration") + 1]) if "--duration" in argv else None
    result = run(quick="--quick" in argv, duration_s=duration)
    print(f"wrote {write_json('soak', result)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-origin"]:
        _serve_origin()
    else:
        sys.exit(main(sys.argv[1:]))
