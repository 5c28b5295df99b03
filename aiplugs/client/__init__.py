"""Talking to a running daemon from another process: the loopback client, its event feed, apply and down.

The names below load with their first use, so a command that only plans (``aiplugs plan`` imports
``client.lifecycle``) does not pay for the HTTP client, the event feed and the spawner."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DAEMON_LOG", "DAEMON_LOG_MAX", "DaemonClient", "DaemonError", "DaemonTimeout", "LOG_DIR",
           "spawn_daemon"]

_WHERE = {"DaemonClient": "daemon", "DaemonError": "errors", "DaemonTimeout": "errors", "DAEMON_LOG": "spawn",
          "DAEMON_LOG_MAX": "spawn", "LOG_DIR": "spawn", "spawn_daemon": "spawn"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
