"""Talking to a running daemon over its loopback API (stdlib only, so the CLI stays light).

``DaemonClient.find(state_dir)`` returns a client when a daemon is alive for that state dir, else None;
``spawn_daemon`` starts one detached and waits until it answers.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AiplugsError
from ..store.state import pid_alive, read_state
from ..store.tokens import PAGE_TOKEN_FILE, read_token

if TYPE_CHECKING:
    from .feed import Feed

__all__ = ["DaemonClient", "DaemonError", "DaemonTimeout", "spawn_daemon"]

LOG_DIR = "logs"
DAEMON_LOG = "daemon.log"
DAEMON_LOG_MAX = 10 * 1024 * 1024


class DaemonError(AiplugsError):
    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class DaemonTimeout(DaemonError):
    """The daemon took longer than the caller's timeout (it may still be working on the request)."""


class DaemonClient:
    def __init__(self, host: str, port: int, admin_token: str, *, pid: int | None = None,
                 page_token: str | None = None, state_dir: Path | None = None) -> None:
        self.host, self.port = host, port
        self.admin_token = admin_token
        self.page_token = page_token
        self.pid = pid
        self.state_dir = state_dir

    def __repr__(self) -> str:
        return f"DaemonClient({self.host}:{self.port}, pid={self.pid})"

    @classmethod
    def find(cls, state_dir: Path) -> DaemonClient | None:
        state = read_state(state_dir)
        if state.daemon is None or state.api is None or not pid_alive(state.daemon.pid):
            return None
        token = read_token(state_dir)
        if token is None:
            return None
        return cls(state.api.host, state.api.port, token, pid=state.daemon.pid,
                   page_token=read_token(state_dir, PAGE_TOKEN_FILE), state_dir=state_dir)

    # ---- plumbing --------------------------------------------------------------------------------------------

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, *, page: bool = False, accept: str = "application/json", with_body: bool = False) -> dict[str, str]:
        """Host (the router checks it is loopback) plus the page token or the admin token."""
        headers = {"Host": f"{self.host}:{self.port}", "Accept": accept}
        if page:
            headers["X-AIPlugs-Token"] = self.page_token or ""
        else:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        if with_body:
            headers["Content-Type"] = "application/json"
        return headers

    def request(self, method: str, path: str, body: Any = None, *, timeout: float | None = 30.0,
                page: bool = False) -> Any:
        all_headers = self.headers(page=page, with_body=body is not None)
        data = None if body is None else json.dumps(body).encode()
        conn = self._connection(timeout)
        try:
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        except TimeoutError:
            raise DaemonTimeout(f"no answer from the daemon at {self.host}:{self.port} to {method} {path} "
                                f"within {timeout:g}s") from None
        except (OSError, http.client.HTTPException) as e:
            raise DaemonError(f"daemon at {self.host}:{self.port} did not answer {method} {path}: {e}") from None
        finally:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode("utf-8", "replace")
        if response.status >= 400:
            detail = payload.get("error") if isinstance(payload, dict) else payload
            raise DaemonError(f"{method} {path} → {response.status}: {detail}", response.status, payload)
        return payload

    # ---- API -------------------------------------------------------------------------------------------------

    def health(self, timeout: float = 2.0) -> bool:
        try:
            self.request("GET", "/api/health", timeout=timeout)
            return True
        except DaemonError:
            return False

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/api/status")

    def apply(self, encoded_desired: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        return self.request("POST", "/api/apply", encoded_desired, timeout=timeout)

    def down(self) -> dict[str, Any]:
        return self.request("POST", "/api/down", {})

    def restart(self, plugin_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/plugins/{plugin_id}/restart", {})

    def pull_models(self, keys: list[str] | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.request("POST", "/api/models/pull", {"keys": keys or []}, timeout=timeout)

    def call(self, plugin_id: str, payload: Any, *, timeout: float | None = 120.0) -> Any:
        return self.request("POST", f"/v1/plugins/{plugin_id}/run", payload, timeout=timeout, page=True)

    def stream(self, plugin_id: str, payload: Any, *, timeout: float | None = 120.0) -> Feed:
        """The items of a streaming plugin call, for ``for`` or ``async for``; a backend error raises DaemonError."""
        from .feed import Feed

        return Feed(self, "POST", f"/v1/plugins/{plugin_id}/run", payload, page=True, timeout=timeout)

    def events(self, *, timeout: float | None = None) -> Feed:
        """Events from ``/api/events`` as dicts, for ``for`` or ``async for``, until closed."""
        from .feed import Feed

        return Feed(self, "GET", "/api/events", timeout=timeout)


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
