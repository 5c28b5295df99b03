"""Command: aiplugs bench — a launcher for the benchmark suites of a source checkout.

The suites are not part of the package: they live in the checkout's ``benchmarks/`` folder (which imports
aiplugs, never the reverse). This command finds the checkout and runs ``python -m benchmarks ARGS...`` there with
this interpreter, passing its exit status through; the suite list and the JSON shape are documented there.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from pathlib import Path

__all__ = ["find_checkout", "register"]

PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the checkout itself for an editable install


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bench", help="run benchmark suites and print their ratios (source checkout only)",
        description="Runs `python -m benchmarks [SUITE...] [--quick] [--json OUT]` in the aiplugs source checkout "
        "(the current folder or one above it, else the checkout of an editable install): the suites side by side "
        "with their baselines, one table of ratios, JSON with machine info. The suites live in the checkout's "
        "benchmarks/ folder, not in the installed package.",
        epilog="The suites and the JSON shape: `python -m benchmarks --help` in a checkout.")
    p.add_argument("suites", nargs="*", metavar="SUITE", help="suites to run (default: all)")
    p.add_argument("--quick", action="store_true", help="small settings, each suite under a minute")
    p.add_argument("--check", action="store_true",
                   help="exit 1 unless every suite ran and reported a ratio with a goal (for CI)")
    p.add_argument("--json", metavar="OUT", default=None,
                   help="where to write the JSON (default benchmarks/results/all.json in the checkout)")
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from ..errors import AiplugsError

    checkout = find_checkout()
    if checkout is None:
        raise AiplugsError(
            f"no aiplugs source checkout in {Path.cwd()} or above it, nor beside the installed package "
            f"({PACKAGE_PARENT}): the benchmark suites live in the source checkout's benchmarks/ folder; run "
            "`aiplugs bench` (or `python -m benchmarks`) inside a checkout")
    argv = [*args.suites, *(["--quick"] if args.quick else []), *(["--check"] if args.check else [])]
    if args.json is not None:  # the child runs in the checkout: a relative path means relative to here
        argv += ["--json", os.path.abspath(args.json)]
    return subprocess.run([sys.executable, "-m", "benchmarks", *argv], cwd=checkout).returncode


def find_checkout(start: Path | None = None, package_parent: Path | None = None) -> Path | None:
    """The aiplugs source checkout holding ``benchmarks/``: ``start`` (default: the current folder) or the
    nearest folder above it, else ``package_parent`` (default: the folder above the imported ``aiplugs``, which
    is the checkout of an editable install); None if none."""
    here = (start or Path.cwd()).resolve()
    for folder in dict.fromkeys([here, *here.parents, (package_parent or PACKAGE_PARENT).resolve()]):
        if _is_checkout(folder):
            return folder
    return None


def _is_checkout(folder: Path) -> bool:
    if not (folder / "benchmarks" / "__main__.py").is_file():
        return False
    try:
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8")).get("project")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == "aiplugs"
