"""Commands: aiplugs bench — the suites of ``benchmarks/`` (the same runner as ``python -m benchmarks``)."""

from __future__ import annotations

import argparse

__all__ = ["register"]

KNOWN = ("plan", "models", "injection", "router", "apply")  # mirrors benchmarks/__main__.py, for --help only


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench", help="run benchmark suites and print their ratios",
        description="Run benchmark suites side by side with their baselines (one run each), print one table of "
        "ratios and write JSON with machine info: {suite: 'all', machine, quick, ok, suites: {NAME: {ok, seconds, "
        "result|error}}, ratios: [{suite, metric, value, goal, goal_met}], missing}. Needs a source checkout "
        "(the suites live in its benchmarks/ folder).")
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"suites to run (default: all; {', '.join(KNOWN)})")
    p.add_argument("--quick", action="store_true", help="small settings, each suite under a minute")
    p.add_argument("--json", metavar="OUT", default=None,
                   help="where to write the JSON (default benchmarks/results/all.json)")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import run_suites
    from ..errors import AiplugsError

    try:
        result = run_suites(args.suites, quick=args.quick, json_out=args.json)
    except ValueError as e:
        raise AiplugsError(str(e)) from None
    return 0 if result["ok"] else 1
