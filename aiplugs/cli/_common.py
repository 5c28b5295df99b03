"""Pieces the command modules share: the -c option, loading the declaration, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

__all__ = ["add_config_option", "load", "print_json", "use_color"]


def add_config_option(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """On the main parser the default is None; on subcommands SUPPRESS keeps a `-c` given before the command."""
    parser.add_argument(
        "-c", "--config", metavar="PATH", default=default,
        help="the declaration to use (default: $AIPLUGS_CONFIG or ./aiplugs.toml)",
    )


def load(args: argparse.Namespace):  # -> tuple[Config, DesiredState]
    from ..plan import load_desired_state

    return load_desired_state(args.config)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def use_color(stream=sys.stdout) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
