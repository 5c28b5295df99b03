"""The ``aiplugs`` command: thin argument parsing over the library. Heavy modules load inside handlers."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from typing import NoReturn, Sequence

from ..errors import AiplugsError, ConfigError
from ._common import add_config_option

__all__ = ["build_parser", "main"]

# Each module adds its subcommands (in this order); handlers import what they need when they run. A run builds
# only the parser of the command it runs, and imports only that module: building all of them (~45 argparse parsers)
# took longer than everything `aiplugs validate` does on a small project. `--help` and mistakes get all of them.
COMMANDS: dict[str, tuple[str, ...]] = {
    "_declare": ("init", "validate", "config", "plan"),
    "_lifecycle": ("apply", "status", "down", "logs"),
    "_interact": ("call", "events", "restart"),
    "_graph": ("graph",),
    "_plugins": ("plugins",),
    "_browser": ("browser",),
    "_dashboard": ("dashboard",),
    "_models": ("models",),
    "_proxy": ("cert",),
    "_bench": ("bench",),
    "_top": ("top",),
    "_suggest": ("suggest",),
}


def command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, when only ``-c PATH`` (in any spelling argparse takes) comes before it; None for
    anything else (``--help``, ``--version``, no command), which the full parser then deals with."""
    words = iter(argv)
    for word in words:
        name, equals, _ = word.partition("=")
        if word.startswith("-c") and not word.startswith("--"):  # -c PATH, -cPATH
            if word == "-c":
                next(words, None)
        elif name.startswith("--c") and "--config".startswith(name):  # --config PATH, --conf=PATH
            if not equals:
                next(words, None)
        else:
            return None if word.startswith("-") else word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``command``, only that command's module adds its subcommands."""
    parser = argparse.ArgumentParser(
        prog="aiplugs",
        description="Local AI-plugin platform: an injecting proxy, a local router and model workers, "
        "declared in aiplugs.toml and converged by `aiplugs apply`.",
        epilog="Run `aiplugs COMMAND --help` for the options of one command.",
    )
    from ..util.version import VERSION

    parser.add_argument("--version", action="version", version=f"aiplugs {VERSION}")
    add_config_option(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    owner = [name for name, names in COMMANDS.items() if command in names]
    for name in owner or COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_of(argv))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        count = len(e.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed.", file=sys.stderr)
        return 1
    except AiplugsError as e:
        print(f"error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> NoReturn:
    """The console script (and ``python -m aiplugs``): ``main``, then the process ends without a last garbage
    collection over everything the command built. ``gc.freeze()`` moves those objects out of the collector's
    reach; the interpreter's exit then skips them (at 100 plugins ~15 ms of a ~190 ms ``aiplugs plan``:
    benchmarks/bench_plan.py). Only here, never in ``main``: a process that goes on after ``main`` (a test
    calling it) keeps collecting as usual."""
    try:
        code = main()
    finally:  # also when argparse ends the run (--help, --version, a usage error)
        gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
