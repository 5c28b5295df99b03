"""Starting a daemon detached: ``python -m aiplugs.runtime.daemon`` in its own session, logging to
``<state_dir>/logs/daemon.log`` (one previous log kept as ``daemon.log.1``; a start is the rotation point)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import AiplugsError
from .daemon import DaemonClient

__all__ = ["DAEMON_LOG", "DAEMON_LOG_MAX", "LOG_DIR", "spawn_daemon"]

LOG_DIR = "logs"
DAEMON_LOG = "daemon.log"
DAEMON_LOG_MAX = 10 * 1024 * 1024


def spawn_daemon(config_path: Path, state_dir: Path, *, timeout: float = 30.0) -> DaemonClient:
    """Starts ``python -m aiplugs.runtime.daemon`` in its own session, logging to ``<state_dir>/logs/daemon.log``."""
    logs = state_dir / LOG_DIR
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = logs / DAEMON_LOG
    try:
        if log_path.stat().st_size > DAEMON_LOG_MAX:  # keep one previous log; a restart is the rotation point
            os.replace(log_path, log_path.with_name(DAEMON_LOG + ".1"))
    except FileNotFoundError:
        pass
    with open(log_path, "ab") as log:
        start = log.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "aiplugs.runtime.daemon", "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            cwd=str(config_path.parent), env=os.environ.copy(),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise AiplugsError(f"the daemon exited with code {code} while starting:\n{_tail(log_path, start)}")
        client = DaemonClient.find(state_dir)
        if client is not None and client.pid == process.pid and client.health(timeout=1.0):
            return client
        time.sleep(0.05)
    process.terminate()
    raise AiplugsError(f"the daemon did not answer within {timeout:.0f}s; its log:\n{_tail(log_path, start)}")


def _tail(path: Path, start: int, lines: int = 30) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
