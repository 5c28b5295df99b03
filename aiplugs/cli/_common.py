"""Pieces the command modules share: the -c option, loading the declaration, output helpers."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..errors import AiplugsError

__all__ = ["add_config_option", "add_locked_option", "daemon_client", "load", "print_json", "state_dir_of",
           "use_color"]


def add_config_option(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """On the main parser the default is None; on subcommands SUPPRESS keeps a `-c` given before the command."""
    parser.add_argument(
        "-c", "--config", metavar="PATH", default=default,
        help="the declaration to use (default: $AIPLUGS_CONFIG or ./aiplugs.toml)",
    )


def load(args: argparse.Namespace):  # -> tuple[Config, DesiredState]
    """The declaration; with ``--locked``, refused unless aiplugs.lock already pins every sourced plugin as
    declared (nothing is fetched or changed then)."""
    from ..plan import load_desired_state

    config, desired = load_desired_state(args.config)
    if getattr(args, "locked", False):
        from ..declaration.lockfile import LOCK_FILE, lock_path, read_lock
        from ..plan.packages import lock_differences

        lines = lock_differences(desired, read_lock(lock_path(config.path)))
        if lines:
            raise AiplugsError(f"{LOCK_FILE} does not match the declaration (--locked):\n"
                               + "\n".join(f"  {line}" for line in lines)
                               + f"\nRun `aiplugs apply` without --locked to update {LOCK_FILE}, then commit it.")
    return config, desired


def add_locked_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--locked", action="store_true",
                        help="fail unless aiplugs.lock pins every sourced plugin as declared (for CI and deploys)")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def use_color(stream=sys.stdout) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def state_dir_of(args: argparse.Namespace):  # -> Path
    """The state dir from the declaration; commands over the running system work even when the file no longer
    validates."""
    from ..declaration.config import load_config

    return load_config(args.config, require_file=False).state_dir


def daemon_client(args: argparse.Namespace):  # -> DaemonClient
    """The running daemon of this project; an error saying how to start one when none runs."""
    from ..client import DaemonClient

    state_dir = state_dir_of(args)
    client = DaemonClient.find(state_dir)
    if client is None:
        raise NoDaemon(f"no aiplugs daemon runs for {state_dir}; `aiplugs apply` starts one")
    return client


class NoDaemon(AiplugsError):
    exit_code = 4  # as `aiplugs status` says it
