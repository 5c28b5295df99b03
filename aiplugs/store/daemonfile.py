"""The daemon's own files in the state dir: its lock, its pid file and where its API listens.

``daemon.json`` (pid, API address, start time) is written once the API listens and removed on a clean exit. It
is how a client still finds a running daemon — to talk to it, or to stop it — when state.json is damaged.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import NamedTuple

from ..util.atomic import atomic_write_text

__all__ = ["DAEMON_FILE", "DaemonFile", "LOCK_FILE", "PID_FILE", "claim_pid_file", "read_daemon_file", "read_pid",
           "release_pid_file", "write_daemon_file"]

LOCK_FILE = "daemon.lock"
PID_FILE = "daemon.pid"
DAEMON_FILE = "daemon.json"


class DaemonFile(NamedTuple):
    pid: int
    host: str
    port: int
    started_at: float


def claim_pid_file(state_dir: Path) -> None:
    atomic_write_text(state_dir / PID_FILE, f"{os.getpid()}\n", mode=0o600)


def write_daemon_file(state_dir: Path, host: str, port: int, started_at: float) -> None:
    data = {"pid": os.getpid(), "host": host, "port": port, "started_at": started_at}
    atomic_write_text(state_dir / DAEMON_FILE, json.dumps(data) + "\n", mode=0o600)


def release_pid_file(state_dir: Path) -> None:
    for name in (PID_FILE, DAEMON_FILE):
        try:
            (state_dir / name).unlink()
        except OSError:
            pass


def read_pid(state_dir: Path) -> int | None:
    """The pid in daemon.pid; None when there is none or it is not a number (a damaged file is no daemon)."""
    try:
        return int((state_dir / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def read_daemon_file(state_dir: Path) -> DaemonFile | None:
    try:
        data = json.loads((state_dir / DAEMON_FILE).read_text(encoding="utf-8"))
        return DaemonFile(int(data["pid"]), str(data["host"]), int(data["port"]),
                          float(data.get("started_at") or time.time()))
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
