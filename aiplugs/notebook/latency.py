"""A self-contained injection-latency measurement for ``aiplugs.bench.injection_latency`` (used when the
checkout's ``benchmarks/bench_injection.py`` offers no parametrised ``measure``).

One run, the same pages, three kinds of path, requests interleaved so machine noise hits all alike:
``direct`` (client → origin), ``mitmdump`` (a bare ``mitmdump`` subprocess, no addons) and ``aiplugs-N`` (a real
daemon whose N plugins all match the page, so the proxy injects its loader). Every path reuses one keep-alive
connection, as a browser would.
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["measure"]

HEADERS = {"Accept": "text/html,application/xhtml+xml", "Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate"}


def page(size: int) -> bytes:
    head = b'<!doctype html><html><head><meta charset="utf-8"><title>bench</title></head><body>\n'
    tail = b"</body></html>\n"
    line = b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n"
    filler = line * max(1, (size - len(head) - len(tail)) // len(line) + 1)
    return head + filler[: max(0, size - len(head) - len(tail))] + tail


class _Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.pages.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if self.path.endswith("/gzip"):
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"mitmdump exited with {process.returncode}: {process.stderr.read()[-500:]!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _mitmdump(stack: ExitStack, confdir: Path) -> int:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from mitmproxy.tools.main import mitmdump; mitmdump()", "--listen-host",
         "127.0.0.1", "--listen-port", str(port), "-q", "--set", f"confdir={confdir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    stack.callback(lambda: (process.terminate(), process.wait(10)))
    _wait_port(port, process)
    return port


def _aiplugs(stack: ExitStack, root: Path, plugins: int) -> int:
    """A daemon for a generated project of ``plugins`` lazy plugins that all match http://127.0.0.1/*."""
    from .session import Session

    for i in range(plugins):
        folder = root / "plugins" / f"bench-{i:03d}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({
            "manifest_version": 3, "id": f"bench-{i:03d}", "name": f"Bench {i}", "version": "1.0.0",
            "description": "injection benchmark", "inference": {"default_mode": "local", "local_entry": "backend.py"},
            "content_scripts": [{"matches": ["http://127.0.0.1/*"], "js": ["content.js"]}]}))
        (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
        (folder / "content.js").write_text("document.documentElement.dataset.bench = '1';\n")
    toml = [f"[api]\nport = {_free_port()}\n", f"[proxy]\nport = {_free_port()}\n"]
    toml += [f'[plugins.bench-{i:03d}]\nprovision = "lazy"\n' for i in range(plugins)]
    (root / "aiplugs.toml").write_text("\n".join(toml))
    session = Session(root / "aiplugs.toml", env={})
    stack.callback(session.down)
    outcome = session.apply(progress=False)
    if outcome is None or outcome.ok is False or outcome.status.proxy is None:
        raise RuntimeError(f"the aiplugs daemon for {plugins} plugins did not become healthy: {outcome!r}")
    return outcome.status.proxy[1]


class _Path:
    def __init__(self, name: str, origin: int, proxy: int | None) -> None:
        self.name, self.origin, self.proxy = name, origin, proxy
        self.conn: http.client.HTTPConnection | None = None

    def fetch(self, target: str) -> tuple[float, bytes]:
        start = time.perf_counter()
        for attempt in (0, 1):  # a proxy may close an idle keep-alive connection: reconnect once
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.proxy or self.origin, timeout=60)
            url = f"http://127.0.0.1:{self.origin}{target}" if self.proxy else target
            try:
                self.conn.request("GET", url, headers=HEADERS)
                response = self.conn.getresponse()
                body = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                start = time.perf_counter()
        if response.status != 200:
            raise RuntimeError(f"{self.name}: GET {url} → {response.status}")
        return (time.perf_counter() - start) * 1000, body

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _targets(sizes: Sequence[int], encodings: Sequence[str]) -> Iterator[tuple[int, str, str]]:
    for size in sizes:
        for encoding in encodings:
            yield size, encoding, f"/page/{size}/{encoding}"


def measure(sizes: Sequence[int] = (10_000, 100_000, 1_000_000), plugins: Sequence[int] = (1, 100), n: int = 50,
            encodings: Sequence[str] = ("identity", "gzip"), warmup: int = 3) -> dict[str, Any]:
    """Returns ``{"rows": [{path, size, encoding, p50_ms, p99_ms, n, injected}], "settings": {...}}``."""
    from ..bench import percentile

    pages = {}
    for size, encoding, target in _targets(sizes, encodings):
        body = page(size)
        pages[target] = gzip.compress(body, 6) if encoding == "gzip" else body
    handler = type("Origin", (_Origin,), {"pages": pages})
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="aiplugs-latency-"))
        stack.callback(shutil.rmtree, tmp, True)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.callback(server.shutdown)
        origin = server.server_address[1]
        paths = [_Path("direct", origin, None), _Path("mitmdump", origin, _mitmdump(stack, tmp / "mitmdump"))]
        for count in plugins:
            paths.append(_Path(f"aiplugs-{count}", origin, _aiplugs(stack, tmp / f"aiplugs-{count}", count)))
        for path in paths:
            stack.callback(path.close)
        samples: dict[tuple[str, str], list[float]] = {}
        injected: dict[tuple[str, str], bool] = {}
        for round_ in range(warmup + n):
            for _, _, target in _targets(sizes, encodings):
                for path in paths:
                    ms, body = path.fetch(target)
                    if round_ >= warmup:
                        samples.setdefault((path.name, target), []).append(ms)
                    else:
                        raw = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
                        injected[(path.name, target)] = b'data-aiplugs="loader"' in raw
    rows = []
    for size, encoding, target in _targets(sizes, encodings):
        for path in paths:
            values = samples[(path.name, target)]
            rows.append({"path": path.name, "size": size, "encoding": encoding, "p50_ms": percentile(values, 0.5),
                         "p99_ms": percentile(values, 0.99), "n": len(values),
                         "injected": injected[(path.name, target)]})
    return {"rows": rows, "settings": {"sizes": list(sizes), "plugins": list(plugins), "n": n,
                                       "encodings": list(encodings)}}
