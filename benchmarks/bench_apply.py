"""`aiplugs apply` against `aiplugs plan` on the same config, and the time from a cold `apply` to healthy.

1. No-op re-apply: with the daemon already converged, `aiplugs apply --auto-approve` should cost a plan plus one
   round trip to the daemon. It runs interleaved with `aiplugs plan` on the same project, for 1, 10 and 50
   generated plugins (lazy: their workers start on the first call, so 50 plugins do not mean 50 processes).
   Goal: apply p50 <= 2x plan p50 at every size.
2. Cold apply → healthy for the shipped example (aiplugs.toml + plugins/ copied as they are), models already
   present and verified: daemon spawn, router, proxy, workers, until `apply` exits 0. Reported in seconds, next to
   `aiplugs plan` on the same config.

    python benchmarks/bench_apply.py          # full
    python benchmarks/bench_apply.py --quick  # small, < 60 s
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks._common` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import client_env, print_table, summary, write_json  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = (1, 10, 50)
GOAL = 2.0
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]


def make_project(root: Path, n: int) -> Path:
    """n lazy local plugins with trivial backends and one content script each."""
    toml = ['plugins_dir = "plugins"', 'models_dir = "models"', 'state_dir = ".aiplugs"', ""]
    for i in range(n):
        pid = f"plugin-{i:03d}"
        folder = root / "plugins" / pid
        folder.mkdir(parents=True)
        manifest = {
            "manifest_version": 3, "id": pid, "name": f"Plugin {i}", "version": "1.0.0",
            "description": "generated for the apply benchmark",
            "inference": {"default_mode": "local", "local_entry": "backend.py"},
            "content_scripts": [{"matches": [f"*://*.site{i}.example/*"], "js": ["content.js"]}],
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
        (folder / "content.js").write_text("document.documentElement.dataset.bench = '1';\n")
        toml += [f"[plugins.{pid}]", "workers = 1", 'provision = "lazy"', ""]
    (root / "models").mkdir(parents=True, exist_ok=True)
    path = root / "aiplugs.toml"
    path.write_text("\n".join(toml) + "\n")
    return path


def shipped_copy(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(REPO / "aiplugs.toml", root / "aiplugs.toml")
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "models").mkdir()
    return root / "aiplugs.toml"


def timed(config: Path, env: dict[str, str], *args: str, timeout: float = 300) -> float:
    start = time.perf_counter()
    result = subprocess.run([*CLI, "-c", str(config), *args], cwd=config.parent, env=env, capture_output=True,
                            text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"aiplugs {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return elapsed


def noop_reapply(root: Path, env: dict[str, str], sizes: tuple[int, ...], reps: int) -> dict[str, Any]:
    results = {}
    for n in sizes:
        config = make_project(root / f"p{n}", n)
        try:
            timed(config, env, "apply", "--auto-approve")  # converge once; every later apply is a no-op
            timed(config, env, "plan")  # warm the file cache
            plan, apply = [], []
            for _ in range(reps):
                plan.append(timed(config, env, "plan"))
                apply.append(timed(config, env, "apply", "--auto-approve"))
        finally:
            subprocess.run([*CLI, "-c", str(config), "down"], cwd=config.parent, env=env, capture_output=True,
                           timeout=120)
        p, a = summary(plan), summary(apply)
        results[str(n)] = {"plan": p, "apply": a, "ratio": a["p50"] / p["p50"]}
    return results


def cold_apply(root: Path, env: dict[str, str], reps: int) -> dict[str, Any]:
    config = shipped_copy(root / "shipped")
    down = [*CLI, "-c", str(config), "down"]
    try:
        timed(config, env, "apply", "--auto-approve")  # provisions the models once
        subprocess.run(down, cwd=config.parent, env=env, capture_output=True, timeout=120)
        plan, cold = [], []
        for _ in range(reps):
            plan.append(timed(config, env, "plan"))
            cold.append(timed(config, env, "apply", "--auto-approve"))
            subprocess.run(down, cwd=config.parent, env=env, capture_output=True, timeout=120)
    finally:
        subprocess.run(down, cwd=config.parent, env=env, capture_output=True, timeout=120)
    p, c = summary(plan), summary(cold)
    return {"plan": p, "apply_to_healthy": c, "ratio": c["p50"] / p["p50"]}


def run(quick: bool = False) -> dict[str, Any]:
    sizes = (1, 10) if quick else SIZES
    reps, cold_reps = (3, 1) if quick else (11, 5)
    env = client_env()
    with tempfile.TemporaryDirectory(prefix="aiplugs-bench-apply-") as tmp:
        reapply = noop_reapply(Path(tmp), env, sizes, reps)
        cold = cold_apply(Path(tmp), env, cold_reps)
    rows = []
    for n, r in reapply.items():
        rows.append({"case": "no-op re-apply vs plan", "plugins": int(n), "plan_p50_s": r["plan"]["p50"],
                     "apply_p50_s": r["apply"]["p50"], "ratio": r["ratio"]})
    rows.append({"case": "cold apply → healthy (shipped)", "plugins": None, "plan_p50_s": cold["plan"]["p50"],
                 "apply_p50_s": cold["apply_to_healthy"]["p50"], "ratio": cold["ratio"]})
    worst = max(r["ratio"] for r in reapply.values())
    return {
        "quick": quick, "repetitions": reps, "sizes": list(sizes), "noop_reapply": reapply, "cold": cold,
        "noop_ratio_max": worst, "cold_apply_to_healthy_s": cold["apply_to_healthy"]["p50"],
        "goal": GOAL, "goal_met": worst <= GOAL, "rows": rows,
    }


def main(argv: list[str]) -> int:
    result = run(quick="--quick" in argv)
    print_table("aiplugs apply vs aiplugs plan (wall time, seconds)", result["rows"])
    verdict = "met" if result["goal_met"] else "NOT met"
    print(f"\nno-op re-apply, worst ratio: {result['noop_ratio_max']:.2f}x (goal <= {GOAL}x: {verdict})")
    print(f"cold apply → healthy (shipped example, models present): {result['cold_apply_to_healthy_s']:.2f}s")
    path = write_json("apply", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
