"""Talking to a running daemon from another process: the loopback client, its event feed, apply and down."""

from .daemon import DaemonClient
from .errors import DaemonError, DaemonTimeout
from .spawn import DAEMON_LOG, DAEMON_LOG_MAX, LOG_DIR, spawn_daemon

__all__ = ["DAEMON_LOG", "DAEMON_LOG_MAX", "DaemonClient", "DaemonError", "DaemonTimeout", "LOG_DIR",
           "spawn_daemon"]
