"""bench_injection's interleaved rounds: every path takes every place in a round equally often, and the client's
garbage collector never runs inside a timed request (real HTTP servers on 127.0.0.1 stand in for the proxies)."""

from __future__ import annotations

import gc
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from benchmarks import bench_injection

PAGE = b"<!doctype html><html><head></head><body>page</body></html>"


class _Recorder:
    def __init__(self) -> None:
        self.arrivals: list[tuple[str, bool]] = []  # (which server, was the client's collector on)
        self.lock = threading.Lock()


@pytest.fixture
def servers() -> Iterator[tuple[_Recorder, dict[str, int]]]:
    recorder = _Recorder()
    started = []

    def serve(name: str) -> int:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                with recorder.lock:
                    recorder.arrivals.append((name, gc.isenabled()))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(PAGE)))
                self.end_headers()
                self.wfile.write(PAGE)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server.server_address[1]

    ports = {name: serve(name) for name in ("a", "b", "c")}
    try:
        yield recorder, ports
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


def test_rounds_rotate_the_order_and_keep_the_collector_out_of_timed_requests(servers) -> None:
    recorder, ports = servers
    assert gc.isenabled()
    times, injected = bench_injection._interleaved(ports, "http://page.test/", n=6, warmup=0)
    assert gc.isenabled()  # on again afterwards
    assert {name: len(values) for name, values in times.items()} == {"a": 6, "b": 6, "c": 6}
    assert all(v > 0 for values in times.values() for v in values)
    assert injected == {"a": 0, "b": 0, "c": 0}  # no loader in these pages
    timed = recorder.arrivals[3:]  # after the one untimed request per path that checks for the loader
    assert not any(collector_on for _, collector_on in timed)
    rounds = [[name for name, _ in timed[i:i + 3]] for i in range(0, len(timed), 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)  # one request per path each round
    places = Counter((name, i) for r in rounds for i, name in enumerate(r))
    assert set(places.values()) == {2} and len(places) == 9, rounds  # every path in every place, twice
    follows = Counter((r[i], r[i + 1]) for r in rounds for i in range(2))
    assert set(follows.values()) == {2} and len(follows) == 6, rounds  # and after every other path, twice
