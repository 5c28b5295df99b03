"""The ``aiplugs`` command: thin argument parsing over the library. Heavy modules load inside handlers."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import AiplugsError, ConfigError
from . import (_bench, _browser, _dashboard, _declare, _graph, _interact, _lifecycle, _models, _plugins, _proxy,
               _suggest, _top)
from ._common import add_config_option

__all__ = ["build_parser", "main"]

# Each module adds its subcommands; handlers import what they need when they run.
COMMAND_MODULES = [_declare, _lifecycle, _interact, _graph, _plugins, _browser, _dashboard, _models, _proxy, _bench,
                   _top, _suggest]


def build_parser() -> argparse.ArgumentParser:
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
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
