"""Commands: aiplugs models ...."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands (filled in by the issue that owns them)."""
