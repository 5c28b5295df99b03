"""Small helpers the test packages share: free loopback ports, process liveness, waiting for a condition, an origin
that never finishes a download, and the ActualState a converge leaves."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the kernel picked it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Polls ``predicate`` until it returns something truthy (returned), or fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


async def wait_for_async(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """``wait_for`` for async tests: polls without blocking the event loop."""
    import asyncio

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def converged(desired: Any, now: float = 1000.0) -> Any:
    """The ActualState a successful converge of ``desired`` leaves (auto ports take the first in range)."""
    from aiplugs.plan import ActualState, ModelState, ObservedEndpoint, ObservedModel, ObservedRoute, ObservedWorker

    def endpoint(spec: Any) -> ObservedEndpoint:
        return ObservedEndpoint(spec.host, spec.port if spec.port is not None else spec.port_range[0])

    return ActualState(
        daemon_pid=1, api=endpoint(desired.api), api_hash=desired.api_hash, proxy=endpoint(desired.proxy.endpoint),
        rules_hash=desired.proxy.rules_hash,
        models=tuple(ObservedModel(m.filename, ModelState.READY, m.sha256) for m in desired.models if not m.lazy),
        workers=tuple(ObservedWorker(w.plugin_id, i, 100 + i, True, w.config_hash)
                      for w in desired.workers for i in range(w.count)
                      if desired.plugin(w.plugin_id).provision == "eager"),
        routes=tuple(ObservedRoute(r.plugin_id, r.config_hash) for r in desired.routes),
        now=now)


class _Trickle(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\0" * 4096)
                time.sleep(0.02)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def trickle_url(name: str = "big.zip") -> Iterator[str]:
    """The URL of a 1 GiB download on 127.0.0.1 that sends 4 KiB every 20 ms: a job that stays busy until cancelled."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
