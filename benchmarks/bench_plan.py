"""`aiplugs plan` wall time for 1, 10 and 100 generated plugins against `python -c "import pydantic_settings"`.

The baseline is the floor any pydantic-settings configuration pays (interpreter start + pydantic); the goal is
plan(100 plugins) <= 1.5x that floor. Runs are interleaved (baseline, 1, 10, 100, baseline, ...) so drift on a
shared machine hits every column alike. Both sides run with bytecode caching on (into a temporary
PYTHONPYCACHEPREFIX, warmed first), as an installed package has its .pyc compiled at install time; a
PYTHONDONTWRITEBYTECODE=1 shell would otherwise make every run recompile aiplugs' sources but not pydantic's.

Where the time went (``python -X importtime`` against the baseline's modules, cProfile and perf_counter sections of
one run in-process): the goal, once met at 1.2-1.45x, had slipped to ~2.0x at 100 plugins (1.6x at 1) as the
declaration grew. A plan imported ~100 modules the baseline does not (~120 ms of import self-time under importtime,
most of it pydantic building model schemas): every CLI command module and ~45 argparse parsers (~8 ms), psutil
(~4 ms), the event bus, apply's client, the lock writer and ``declaration.edit`` with tomlkit, which
``declaration/positions.py`` ran on every load to work out each value's origin (``aiplugs.toml:14:9``) as a second
parse of the file: ~40 ms at 100 plugins. A dependency without a version still imported ``packaging.specifiers``
(~9 ms in-process with its regex), hashes went through ``dataclasses.asdict``'s deep copies, ``Config.state_dir``
was a realpath walk per call (twice per plugin) and the diff looked up each plugin's worker and route by scanning.

What changed: origins in the file are looked up when one is read (``sources.FileValues``, ``Origins``: which keys
the environment or an argument set is known without them), so tomlkit loads for an error message, ``Config.origin``
or ``aiplugs config`` only, and an idle daemon has none of it; the CLI builds and imports only the command it runs
(``--help`` all of them: 0.55x the baseline, was 1.55x); ``import aiplugs`` loads its public names on first use;
psutil loads with the first pid check, packaging for a version that is not a plain release number or for a version
specifier, Ray placement for a plugin on Ray; the state.json and aiplugs.lock models are built on first use (a plan
without those files validates neither); no base models only to share a config (four fewer models); per plugin one
scandir of plugins/ and no realpath walk, a 64 KiB first read of the manifest, hashes through json's C encoder (same
text: tests compare with asdict), lookups by id. Measured (``--quick``, ratio of p50s; the machine is shared, +-0.04
between runs): before 1.61 / 1.68 / 2.00x at 1 / 10 / 100 plugins; after, three runs: 1.39-1.41 / 1.40-1.43 /
1.53-1.56x. Interleaved with the code before (21 runs each): 1.66 / 1.67 / 1.96x -> 1.40 / 1.40 / 1.50x.

What is left, at 1 plugin ~45 ms in-process beyond the baseline: importing aiplugs is mostly class creation, 27
pydantic models of the declaration and manifests (~17 ms; every plan validates with all of them but the deferred
state and lock models) and 36 frozen dataclasses of the desired and actual state (~16 ms: Python 3.11 compiles six
methods for each), module code ~7 ms; then ~5 ms of work. The larger heap (~5,000 more objects the collector
tracks) costs ~5 ms more of GC during the run and ~7 ms more at interpreter exit than the baseline's. Per plugin
~0.13 ms: the manifest (read, JSON, validate, three file checks: ~55 us), the worker spec (backend.py read and
parsed for its hooks, hashed: ~35 us), the route hash, its TOML table, the diff and the printed line.

Then the console script (``aiplugs.cli.entry``, also ``python -m aiplugs``) calls ``gc.freeze()`` once the command
is done, so the interpreter's exit skips the final collections over everything the command built (every command
gains, not only plan; a process that calls ``main`` and goes on is untouched): 1.22-1.29x at 100 plugins (--quick,
two runs). Measured and not taken: the cyclic GC paused while the plan is built (~7 ms at 100 plugins), which
would change how the command runs rather than how it ends.

    python benchmarks/bench_plan.py          # full
    python benchmarks/bench_plan.py --quick  # small, < 60 s
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, summary, write_json  # noqa: E402

SIZES = (1, 10, 100)
GOAL = 1.5
BASELINE = [sys.executable, "-c", "import pydantic_settings"]


def aiplugs_command() -> list[str]:
    """The installed console script (what users run) when it sits beside this interpreter, else the same entry."""
    script = Path(sys.executable).with_name("aiplugs")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]


def make_project(root: Path, n: int) -> Path:
    """n plugins: every fifth has a model (from a file in the plugin), every seventh is cloud mode, some depend."""
    plugins = root / "plugins"
    toml = ['plugins_dir = "plugins"', 'models_dir = "models"', 'state_dir = ".aiplugs"', ""]
    for i in range(n):
        pid = f"plugin-{i:03d}"
        folder = plugins / pid
        (folder / "data").mkdir(parents=True)
        models = []
        if i % 5 == 0:
            blob = f"model weights {i}\n".encode() * 64
            (folder / "data" / "model.bin").write_bytes(blob)
            models.append({"key": f"MODEL_{i}", "filename": f"model-{i}.bin", "source_url": "data/model.bin",
                           "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)})
        manifest = {
            "manifest_version": 3, "id": pid, "name": f"Plugin {i}", "version": "1.0.0",
            "description": "generated for the plan benchmark",
            "dependencies": [f"plugin-{i - 1:03d}"] if i % 10 == 9 else [],
            "inference": {"default_mode": "cloud" if i % 7 == 6 else "local", "local_entry": "backend.py",
                          "models": models},
            "content_scripts": [{"matches": [f"*://*.site{i}.example/*", f"https://docs.example/p{i}/*"],
                                 "exclude_matches": ["*://*/*?aiplugs=off*"], "js": ["content.js"],
                                 "css": ["content.css"], "run_at": "document_idle"}],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        (folder / "backend.py").write_text(f"def run(payload):\n    return {{'plugin': {pid!r}}}\n")
        (folder / "content.js").write_text("document.documentElement.dataset.bench = '1';\n")
        (folder / "content.css").write_text("html { outline: 0; }\n")
        toml += [f"[plugins.{pid}]", f"workers = {1 + i % 3}"]
        if i % 4 == 0:
            toml += [f"[plugins.{pid}.settings]", f"threshold = {i / 100}", ""]
    path = root / "aiplugs.toml"
    path.write_text("\n".join(toml) + "\n")
    return path


def timed(cmd: list[str], cwd: Path | None, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return elapsed


def run(quick: bool = False) -> dict[str, Any]:
    reps = 9 if quick else 21
    plan_cmd = [*aiplugs_command(), "plan"]
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-plan-") as tmp:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AIPLUGS_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(NO_COLOR="1", PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"))
        projects = {n: make_project(Path(tmp) / f"p{n}", n) for n in SIZES}
        for path in projects.values():  # warm the file cache and check each project plans cleanly
            timed([*plan_cmd, "-c", str(path)], path.parent, env)
        timed(BASELINE, None, env)
        samples: dict[str, list[float]] = {"baseline": [], **{str(n): [] for n in SIZES}}
        for _ in range(reps):
            samples["baseline"].append(timed(BASELINE, None, env))
            for n, path in projects.items():
                samples[str(n)].append(timed([*plan_cmd, "-c", str(path)], path.parent, env))
    base = summary(samples["baseline"])
    rows = [{"case": "python -c 'import pydantic_settings'", "plugins": None, "p50_s": base["p50"],
             "p99_s": base["p99"], "ratio": 1.0}]
    results = {}
    for n in SIZES:
        s = summary(samples[str(n)])
        ratio = s["p50"] / base["p50"]
        results[str(n)] = {**s, "ratio": ratio}
        rows.append({"case": "aiplugs plan", "plugins": n, "p50_s": s["p50"], "p99_s": s["p99"], "ratio": ratio})
    ratio_100 = results[str(SIZES[-1])]["ratio"]
    return {
        "quick": quick, "repetitions": reps, "command": plan_cmd, "baseline": base, "plan": results,
        "ratio_at_100": ratio_100, "goal": GOAL, "goal_met": ratio_100 <= GOAL, "rows": rows,
    }


def main(argv: list[str]) -> int:
    result = run(quick="--quick" in argv)
    print_table("aiplugs plan vs import pydantic_settings (wall time, seconds)", result["rows"])
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"\nratio at {SIZES[-1]} plugins: {result['ratio_at_100']:.2f}x (goal <= {GOAL}x: {verdict})")
    path = write_json("plan", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
