"""Run the benchmark suites: ``python -m benchmarks [SUITE...] [--quick] [--json OUT] [--check]`` (``aiplugs bench``
finds the source checkout and runs this there).

Every ``bench_<name>.py`` here exposes ``run(quick) -> dict``. This runs the chosen suites (default: all, in the
order plan, models, injection, pac, router, apply, footprint, soak, then any other), one after the other in this
process; a failing suite is reported and the others still run. It prints one table of the ratios every suite
reports (top-level numeric keys with "ratio" in their name, next to the suite's ``goal`` / ``goal_met``) and
writes one JSON file (default ``benchmarks/results/all.json``) shaped like this::

    {
      "suite": "all",
      "machine": {"python": "3.11.7", "platform": "...", "cpus": 2, "time": "2026-01-01T00:00:00Z"},
      "quick": true,
      "ok": true,                        # every chosen suite ran without raising
      "suites": {
        "plan": {"ok": true, "seconds": 12.1, "result": {...what bench_plan.run returned...}},
        "router": {"ok": false, "seconds": 0.2, "error": "RuntimeError: ..."}
      },
      "ratios": [{"suite": "plan", "metric": "ratio_at_100", "value": 1.21, "goal": 1.5, "goal_met": true}],
      "missing": []                      # known suites with no bench_<name>.py in this checkout
    }

Exit status: 0 when every suite ran (goals are reported, not enforced), 1 when one raised, 2 on bad arguments.
``--check`` (CI) also exits 1 when a suite reports no ratio with a numeric goal and a yes/no ``goal_met``: a
suite that stopped comparing itself to its baseline is as broken as one that raised. Timings are never checked.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_table, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent
KNOWN = ("plan", "models", "injection", "pac", "router", "apply", "footprint", "soak")


def available() -> list[str]:
    """Suite names present here: the known ones in their order, then any other bench_*.py."""
    found = {p.stem[len("bench_"):] for p in HERE.glob("bench_*.py")}
    return [n for n in KNOWN if n in found] + sorted(found - set(KNOWN))


def ratio_rows(suite: str, result: Any) -> list[dict[str, Any]]:
    """The headline ratios of one suite's result: top-level numbers whose key has a word "ratio" in it
    ("rps_ratio", "ratio_at_100"; not "duration_s"), with that metric's goal when the suite states one (``goal``
    as a number, or ``goal``/``goals`` as a dict by metric) and the suite's overall ``goal_met``."""
    if not isinstance(result, dict):
        return []
    goals = result.get("goal") if isinstance(result.get("goal"), dict) else result.get("goals")
    goals = goals if isinstance(goals, dict) else {}
    scalar = result.get("goal") if _number(result.get("goal")) else None
    met = result.get("goal_met")
    rows = []
    for key, value in result.items():
        if _number(value) and "ratio" in key.split("_"):
            goal = goals.get(key) if _number(goals.get(key)) else scalar
            rows.append({"suite": suite, "metric": key, "value": float(value), "goal": goal,
                         "goal_met": met if isinstance(met, bool) else None})
        elif key == "ratios" and isinstance(value, dict):
            for name, number in value.items():
                if _number(number):
                    rows.append({"suite": suite, "metric": f"ratios.{name}", "value": float(number),
                                 "goal": goals.get(name) if _number(goals.get(name)) else None, "goal_met": None})
    return rows


def problems(report: dict[str, Any]) -> list[str]:
    """What makes a run's report unusable, per suite: it raised, or it reports no ratio against a numeric goal,
    or no boolean ``goal_met``. Empty when every chosen suite compared itself to its baseline.

    A suite that measures a cost with nothing to aim at says so instead: ``"goal": "none: <why>"`` (then a ratio
    is still required, a goal_met is not), so a goal can be dropped on purpose but never lost by accident."""
    found = []
    for name, suite in report.get("suites", {}).items():
        if not suite.get("ok"):
            found.append(f"{name}: failed: {suite.get('error')}")
            continue
        result = suite.get("result") or {}
        rows = [r for r in report.get("ratios", []) if r["suite"] == name]
        if _no_goal(result.get("goal")):
            if not rows:
                found.append(f"{name}: reports no ratio")
            continue
        if not any(_number(r["value"]) and _number(r["goal"]) for r in rows):
            found.append(f"{name}: reports no ratio with a goal")
        if not isinstance(result.get("goal_met"), bool):
            found.append(f"{name}: reports no goal_met")
    return found


def _no_goal(goal: Any) -> bool:
    return isinstance(goal, str) and goal.startswith("none:") and len(goal.strip()) > len("none:")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run_suites(names: Sequence[str] = (), *, quick: bool = False, json_out: str | Path | None = None,
               echo: bool = True) -> dict[str, Any]:
    """Runs the named suites (all when empty), prints the ratio table, writes the JSON; returns what it wrote."""
    present = available()
    unknown = [n for n in names if n not in present]
    if unknown:
        raise ValueError(f"unknown benchmark suite(s): {', '.join(unknown)} (available: {', '.join(present)})")
    chosen = list(names) or present
    suites: dict[str, Any] = {}
    ratios: list[dict[str, Any]] = []
    for name in chosen:
        if echo:
            print(f"== running {name}{' (quick)' if quick else ''}", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            result = module.run(quick=quick)
        except Exception as e:  # one broken suite must not hide the others
            suites[name] = {"ok": False, "seconds": round(time.perf_counter() - start, 3),
                            "error": f"{type(e).__name__}: {e}"}
            if echo:
                traceback.print_exc()
            continue
        suites[name] = {"ok": True, "seconds": round(time.perf_counter() - start, 3), "result": _jsonable(result)}
        ratios.extend(ratio_rows(name, result))
    combined = {"quick": quick, "ok": all(s["ok"] for s in suites.values()), "suites": suites,
                "ratios": ratios, "missing": [n for n in KNOWN if n not in present]}
    path = write_json("all", combined, json_out)
    if echo:
        # the suite's own verdict over all its goals (a ratio's direction, at most or at least, is the suite's)
        table = [{"suite": r["suite"], "metric": r["metric"], "ratio": r["value"], "goal": r["goal"],
                  "suite_goals_met": {True: "yes", False: "NO", None: ""}[r["goal_met"]]} for r in ratios]
        table += [{"suite": n, "metric": f"ERROR {s['error']}"[:100], "ratio": None, "goal": None,
                   "suite_goals_met": ""} for n, s in suites.items() if not s["ok"]]
        print_table("benchmark ratios (aiplugs / baseline; the last column is each suite's verdict)", table)
        print(f"\nwrote {path}")
    return {"suite": "all", **combined, "path": str(path)}


def _jsonable(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def build_parser(prog: str = "python -m benchmarks") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Run aiplugs benchmark suites side by side with their "
                                     "baselines; print the ratios and write JSON with machine info.")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="*", metavar="SUITE",
                        help=f"suites to run (default: all; known: {', '.join(KNOWN)})")
    parser.add_argument("--quick", action="store_true", help="small settings, each suite under a minute")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless every suite ran and reported a ratio with a goal (for CI)")
    parser.add_argument("--json", metavar="OUT", default=None,
                        help="where to write the JSON (default benchmarks/results/all.json)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run_suites(args.suites, quick=args.quick, json_out=args.json)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if getattr(args, "check", False):
        found = problems(result)
        for problem in found:
            print(f"check: {problem}", file=sys.stderr)
        if found:
            return 1
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
