"""Feed: one SSE stream read with ``for`` or ``async for`` from a real server (aiohttp on 127.0.0.1, in a thread);
``close()`` from any thread; errors as DaemonError; ``watch``. And the SSE encoder and parser it rests on."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from aiplugs.client.errors import DaemonError
from aiplugs.client.feed import Feed, watch
from aiplugs.util.sse import SseEvent, encode, parse

from ..support import free_port, wait_for

ITEMS = [{"n": 1}, {"n": 2}, "three", {"text": "a\nb"}]
EVENTS = [{"seq": i, "type": "worker.started", "ts": 1.0, "data": {"plugin_id": "p", "index": i}} for i in (1, 2, 3)]


class SseServer:
    """An aiohttp app on its own loop in a background thread; records each request's method, path, headers, body."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sse-server")
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.port = 0

    def start(self) -> SseServer:
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_get("/items", self.items)
        app.router.add_post("/call", self.call_failing)
        app.router.add_post("/call-ok", self.call_ending)
        app.router.add_get("/silent", self.silent)
        app.router.add_get("/api/events", self.events)
        self.runner = web.AppRunner(app, shutdown_timeout=1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _open(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers), await request.read()))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
        await response.prepare(request)
        return response

    async def _linger(self, request: web.Request) -> None:
        """Keeps the stream open and silent until the client goes away."""
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.05)

    async def items(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        await response.write(b": connected\n\n")
        await response.write(encode(ITEMS[0]))
        await response.write(b":keep-alive\n\n")
        await response.write(encode(ITEMS[1], id=2, event="progress"))
        await response.write(b'data: "thr')  # an event split across writes
        await response.write(b'ee"\n\n')
        await response.write(b"data: {\"text\":\r\ndata: \"a\\nb\"}\r\n\r\n")
        await response.write_eof()
        return response

    async def call_failing(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        await response.write(encode({"i": 0}))
        await response.write(encode({"type": "ValueError", "message": "boom at 1"}, event="error"))
        await response.write(encode({"i": "never read"}))
        await response.write_eof()
        return response

    async def call_ending(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        await response.write(encode({"i": 0}) + encode({"i": 1}))
        await response.write_eof()
        return response

    async def silent(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        await response.write(b": hello\n\n")
        await self._linger(request)
        return response

    async def events(self, request: web.Request) -> web.StreamResponse:
        response = await self._open(request)
        for event in EVENTS:
            await response.write(encode(event))
        await self._linger(request)
        return response


class FakeClient:
    """What a Feed needs of a DaemonClient: an address and headers."""

    def __init__(self, port: int) -> None:
        self.host, self.port = "127.0.0.1", port
        self.asked: list[dict[str, Any]] = []

    def headers(self, *, page: bool = False, accept: str = "application/json", with_body: bool = False
                ) -> dict[str, str]:
        self.asked.append({"page": page, "accept": accept, "with_body": with_body})
        headers = {"Host": f"{self.host}:{self.port}", "Accept": accept,
                   **({"X-AIPlugs-Token": "page-token"} if page else {"Authorization": "Bearer admin"})}
        return {**headers, "Content-Type": "application/json"} if with_body else headers

    def events(self) -> Feed:
        return Feed(self, "GET", "/api/events")


@pytest.fixture(scope="module")
def server() -> Iterator[SseServer]:
    running = SseServer().start()
    yield running
    running.stop()


@pytest.fixture
def client(server: SseServer) -> FakeClient:
    return FakeClient(server.port)


def test_for_gives_the_json_items_in_order(server: SseServer, client: FakeClient) -> None:
    feed = Feed(client, "GET", "/items")
    assert list(feed) == ITEMS
    assert feed.closed and list(feed) == []
    assert client.asked == [{"page": False, "accept": "text/event-stream", "with_body": False}]
    method, path, headers, body = server.requests[-1]
    assert (method, path, body) == ("GET", "/items", b"")
    assert headers["Accept"] == "text/event-stream" and headers["Authorization"] == "Bearer admin"


async def test_async_for_gives_the_same_items(client: FakeClient) -> None:
    items = [item async for item in Feed(client, "GET", "/items")]
    assert items == ITEMS
    converted = [item async for item in Feed(client, "GET", "/items", convert=lambda x: json.dumps(x))]
    assert converted == [json.dumps(i) for i in ITEMS]


def test_an_error_event_on_a_call_stream_raises(server: SseServer, client: FakeClient) -> None:
    feed = Feed(client, "POST", "/call", {"text": "hi"}, page=True)
    assert next(feed) == {"i": 0}
    with pytest.raises(DaemonError) as failure:
        next(feed)
    assert "ValueError: boom at 1" in str(failure.value) and "/call" in str(failure.value)
    assert failure.value.body == {"type": "ValueError", "message": "boom at 1"}
    assert feed.closed
    assert client.asked[-1] == {"page": True, "accept": "text/event-stream", "with_body": True}
    _, _, headers, body = server.requests[-1]
    assert json.loads(body) == {"text": "hi"} and headers["X-AIPlugs-Token"] == "page-token"
    assert headers["Content-Type"] == "application/json"


async def test_an_error_event_raises_from_async_for_too(client: FakeClient) -> None:
    got = []
    with pytest.raises(DaemonError, match="ValueError: boom at 1"):
        async for item in Feed(client, "POST", "/call", {}, page=True):
            got.append(item)
    assert got == [{"i": 0}]


def test_a_call_stream_ends_with_its_response(client: FakeClient) -> None:
    feed = Feed(client, "POST", "/call-ok", {}, page=True, timeout=10)
    assert list(feed) == [{"i": 0}, {"i": 1}]
    assert feed.closed


def test_close_from_another_thread_wakes_a_blocked_reader(client: FakeClient) -> None:
    for _ in range(5):  # closing races the reader's own clean-up: try it a few times
        feed = Feed(client, "GET", "/silent")
        outcome: list[Any] = []

        def read(feed: Feed = feed, outcome: list[Any] = outcome) -> None:
            try:
                outcome.append(list(feed))
            except BaseException as e:  # noqa: BLE001 - the test reports it
                outcome.append(e)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.2)
        assert reader.is_alive() and outcome == []  # blocked on a silent stream
        closed_at = time.monotonic()
        feed.close()
        reader.join(1.0)
        assert not reader.is_alive() and time.monotonic() - closed_at < 1.0
        assert outcome == [[]] and feed.closed  # the reader stopped cleanly


async def test_close_wakes_an_async_reader(client: FakeClient) -> None:
    for _ in range(5):
        feed = Feed(client, "GET", "/silent")

        async def read(feed: Feed = feed) -> list[Any]:
            return [item async for item in feed]

        task = asyncio.create_task(read())
        await asyncio.sleep(0.2)
        assert not task.done()
        feed.close()
        assert await asyncio.wait_for(task, 1.0) == []


def test_an_error_answer_raises_with_its_status(client: FakeClient) -> None:
    with pytest.raises(DaemonError) as failure:
        Feed(client, "GET", "/missing")
    assert failure.value.status == 404 and "GET /missing → 404" in str(failure.value)
    with pytest.raises(DaemonError) as failure:
        Feed(client, "POST", "/items", {})
    assert failure.value.status == 405


def test_nobody_listening_raises() -> None:
    port = free_port()
    with pytest.raises(DaemonError, match=f"daemon at 127.0.0.1:{port} did not answer GET /api/events"):
        FakeClient(port).events()


def test_watch_feeds_events_to_a_callback(client: FakeClient) -> None:
    got: list[Any] = []
    with watch(client, got.append) as watching:
        wait_for(lambda: len(got) == len(EVENTS), timeout=10)
    assert got == EVENTS
    assert watching._feed.closed and not watching._thread.is_alive()


# ---- the SSE format ---------------------------------------------------------------------------------------------


def lines_of(raw: bytes) -> list[str]:
    return raw.decode().splitlines(keepends=True)


def test_encode_is_compact_json_with_optional_id_and_event() -> None:
    assert encode({"a": [1, 2]}) == b'data: {"a":[1,2]}\n\n'
    assert encode("end", event="end", id=7) == b'id: 7\nevent: end\ndata: "end"\n\n'
    assert encode(Path("/x")) == b'data: "/x"\n\n'  # what JSON cannot carry goes as text


@pytest.mark.parametrize("value", [{"a": {"b": [1, None]}}, "two\nlines", "ünïcødé ✓", None, 3.5, [], ""])
def test_encode_then_parse_round_trips(value: Any) -> None:
    (event,) = parse(lines_of(encode(value, event="tick", id="abc")))
    assert (event.event, event.id) == ("tick", "abc") and event.json() == value
    (plain,) = parse(lines_of(encode(value)))
    assert (plain.event, plain.id) == ("", None) and plain.json() == value


def test_parse_joins_data_lines_and_skips_comments_and_empty_events() -> None:
    raw = ": keep-alive\n\nevent: nothing\n\ndata: first\ndata:second\ndata\n\nevent: x\ndata: 1\n\ndata: 2\n\n"
    assert list(parse(lines_of(raw.encode()))) == [SseEvent("first\nsecond\n"), SseEvent("1", "x"), SseEvent("2")]
    assert SseEvent("first\nsecond").json() == "first\nsecond"  # not JSON: the text itself


def test_parse_crlf_lines_without_endings_and_a_last_event_without_blank_line() -> None:
    crlf = b'id: 1\r\nevent: tick\r\ndata: {"n":\r\ndata: 1}\r\n\r\ndata: 2\r\n\r\n'
    assert list(parse(lines_of(crlf))) == [SseEvent('{"n":\n1}', "tick", "1"), SseEvent("2", "", "1")]
    assert [e.json() for e in parse(lines_of(crlf))] == [{"n": 1}, 2]
    assert list(parse(["data: a", "", "data: b"])) == [SseEvent("a"), SseEvent("b")]


def test_parse_reads_from_a_socket_stream() -> None:
    left, right = socket.socketpair()
    with left, right:
        right.sendall(encode({"n": 1}, id=1) + b": ping\r\n\r\n" + encode({"n": 2}, event="e"))
        right.shutdown(socket.SHUT_WR)
        reader = left.makefile("rb")
        events = list(parse(raw.decode() for raw in iter(reader.readline, b"")))
    assert [(e.json(), e.event, e.id) for e in events] == [({"n": 1}, "", "1"), ({"n": 2}, "e", "1")]
