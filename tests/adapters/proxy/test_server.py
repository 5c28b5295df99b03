"""The real embedded proxy: listening, interception scope, API routing (JSON, SSE, WebSocket), hot swap, stop."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from aiplugs.errors import AiplugsError
from aiplugs.adapters.proxy import ProxyServer

from .conftest import make_spec, script
from .servers import OriginCA, StandInRouter, make_test_ca, peer_issuer_via_proxy

PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>hello</p></body></html>"
DOC = {"sec-fetch-dest": "document", "accept": "text/html"}


def origin_app() -> web.Application:
    app = web.Application()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html")

    async def data(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})  # chunked: no Content-Length
        await response.prepare(request)
        await response.write(b"<!doctype html><html><head></head><body>")
        for _ in range(17):
            await response.write(b"<p>" + b"x" * (1 << 20) + b"</p>")
        return response

    app.router.add_get("/", page)
    app.router.add_get("/huge", huge)
    app.router.add_get("/data", data)
    app.router.add_route("*", "/__aiplugs__/{tail:.*}", lambda r: web.Response(text="ORIGIN", status=418))
    return app


@pytest.fixture
def ca(tmp_path: Path) -> OriginCA:
    return make_test_ca(tmp_path / "origin-ca")


@pytest.fixture
async def system(serve, tmp_path, plugin_dirs, ca):
    """A plain and a TLS origin, the stand-in router and a started proxy that matches ``localhost``."""
    origin = await serve(origin_app())
    tls_origin = await serve(origin_app(), ssl=ca.server_context())
    router = StandInRouter("page-token", plugin_dirs)
    api = await serve(router.app())
    spec = make_spec(script("p1", "*://localhost/*"))
    proxy = ProxyServer(spec, confdir=tmp_path / "confdir", api_address=("127.0.0.1", api.port),
                        page_token="page-token", options={"ssl_verify_upstream_trusted_ca": str(ca.ca_cert)})
    await proxy.start("127.0.0.1", 0)
    yield {"origin": origin, "tls": tls_origin, "router": router, "api": api, "proxy": proxy, "spec": spec}
    await proxy.stop()


def proxied(proxy: ProxyServer, ca_file: Path | None = None) -> httpx.AsyncClient:
    host, port = proxy.address  # type: ignore[misc]
    return httpx.AsyncClient(proxy=f"http://{host}:{port}", verify=str(ca_file) if ca_file else False, timeout=20)


async def test_start_creates_ca_and_listens(system) -> None:
    proxy = system["proxy"]
    assert proxy.ca_cert_path.is_file() and proxy.ca_cert_path.name == "mitmproxy-ca-cert.pem"
    assert proxy.address[0] == "127.0.0.1" and proxy.address[1] > 0


async def test_injects_over_http_and_https(system) -> None:
    proxy = system["proxy"]
    async with proxied(proxy, proxy.ca_cert_path) as client:
        plain = await client.get(f"http://localhost:{system['origin'].port}/", headers=DOC)
        tls = await client.get(f"https://localhost:{system['tls'].port}/", headers=DOC)
        data = await client.get(f"https://localhost:{system['tls'].port}/data", headers={"sec-fetch-dest": "empty"})
    for response in (plain, tls):
        assert b'data-aiplugs="loader"' in response.content
        assert response.headers["cache-control"] == "no-store"
    assert data.json() == {"ok": True}


async def test_unmatched_https_host_is_tunnelled_not_decrypted(system, ca) -> None:
    proxy = system["proxy"]
    port = system["tls"].port
    matched = await asyncio.to_thread(peer_issuer_via_proxy, proxy.address, "localhost", port)
    unmatched = await asyncio.to_thread(peer_issuer_via_proxy, proxy.address, "127.0.0.1", port)
    assert matched == "mitmproxy"
    assert unmatched == ca.name


async def test_passthrough_is_never_decrypted_and_hot_swap_changes_scope(system, ca) -> None:
    proxy = system["proxy"]
    port = system["tls"].port
    proxy.update(make_spec(script("p1", "*://localhost/*"), passthrough=("localhost",)))
    assert await asyncio.to_thread(peer_issuer_via_proxy, proxy.address, "localhost", port) == ca.name
    proxy.update(make_spec(script("p1", "*://localhost/*"), intercept="all"))
    assert await asyncio.to_thread(peer_issuer_via_proxy, proxy.address, "127.0.0.1", port) == "mitmproxy"


async def test_api_path_reaches_the_router_never_the_origin(system) -> None:
    proxy, router = system["proxy"], system["router"]
    async with proxied(proxy, proxy.ca_cert_path) as client:
        url = f"https://localhost:{system['tls'].port}/__aiplugs__/v1/plugins/p1/run"
        ok = await client.post(url, json={"x": 1}, headers={"X-AIPlugs-Token": "page-token", "Cookie": "s=1"})
        denied = await client.post(url, json={}, headers={"X-AIPlugs-Token": "wrong"})
        asset = await client.get(f"http://localhost:{system['origin'].port}/__aiplugs__/v1/plugins/p1/assets/content.js")
        sse = await client.post(url, json={}, headers={"X-AIPlugs-Token": "page-token", "Accept": "text/event-stream"})
        unmatched = await client.get(f"http://127.0.0.1:{system['origin'].port}/__aiplugs__/v1/x")
    assert ok.json() == {"plugin": "p1", "echo": {"x": 1}}
    assert denied.status_code == 401 and "wrong page token" in denied.text
    assert asset.text.startswith("document.documentElement.dataset.p1")
    assert sse.text.count("event: chunk") == 3 and "event: done" in sse.text
    assert unmatched.status_code == 418  # not an intercepted host: the origin answers
    hosts = {r["host"] for r in router.requests}
    assert hosts == {f"127.0.0.1:{system['api'].port}"}
    assert all("Cookie" not in r["headers"] for r in router.requests)


def _ws_roundtrip(proxy: tuple[str, int], host: str, port: int, path: str, ca_file: Path, text: str) -> str:
    """wss:// through a CONNECT tunnel, as browsers do it."""
    import ssl

    from websockets.sync.client import connect

    sock = socket.create_connection(proxy, timeout=10)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(4096)
    assert b" 200 " in reply.split(b"\r\n")[0] + b" "
    ctx = ssl.create_default_context(cafile=str(ca_file))
    with connect(f"wss://{host}:{port}{path}", sock=sock, ssl=ctx, server_hostname=host, open_timeout=10) as ws:
        ws.send(text)
        return str(ws.recv(timeout=10))


async def test_websocket_on_the_api_path(system) -> None:
    proxy = system["proxy"]
    path = "/__aiplugs__/v1/plugins/p1/ws?client_id=c1&token=page-token"
    reply = await asyncio.to_thread(_ws_roundtrip, proxy.address, "localhost", system["tls"].port, path,
                                    proxy.ca_cert_path, "hi")
    assert json.loads(reply) == {"client_id": "c1", "plugin": "p1", "echo": "hi"}


def _http_get_keepalive(sock: socket.socket, url: str) -> bytes:
    sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {url.split('/')[2]}\r\nSec-Fetch-Dest: document\r\n"
                 f"Accept: text/html\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    if fields.get(b"transfer-encoding") == b"chunked":  # an injected page: its length is known at its end
        while not body.endswith(b"\r\n0\r\n\r\n") and body != b"0\r\n\r\n":
            body += sock.recv(65536)
        return _unchunk(body)
    while len(body) < int(fields[b"content-length"]):
        body += sock.recv(65536)
    return body


def _unchunk(data: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


async def test_hot_swap_keeps_open_connections(system) -> None:
    proxy = system["proxy"]
    url = f"http://localhost:{system['origin'].port}/"
    sock = socket.create_connection(proxy.address, timeout=10)
    try:
        first = await asyncio.to_thread(_http_get_keepalive, sock, url)
        proxy.update(make_spec(script("p2", "*://localhost/*", js=("other.js",)), csp="strip"))
        second = await asyncio.to_thread(_http_get_keepalive, sock, url)  # same socket, still open
        proxy.update(make_spec())
        third = await asyncio.to_thread(_http_get_keepalive, sock, url)
    finally:
        sock.close()
    assert b'"id":"p1"' in first and b'"id":"p2"' not in first
    assert b'"id":"p2"' in second and b"other.js" in second
    assert third == PAGE


async def test_bind_failure_raises_and_stop_frees_the_port(tmp_path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        proxy = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t")
        with pytest.raises(AiplugsError, match=f"cannot listen on 127.0.0.1:{port}"):
            await proxy.start("127.0.0.1", port)
        assert proxy.address is None
    finally:
        blocker.close()
    await proxy.start("127.0.0.1", port)  # the failed attempt left nothing behind
    assert proxy.address == ("127.0.0.1", port)
    other = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t")
    with pytest.raises(AiplugsError, match="one master per process"):
        await other.start("127.0.0.1", 0)
    await proxy.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


SILENT = r"""
import asyncio, sys, urllib.request
from pathlib import Path
from aiplugs.adapters.proxy import ProxyServer
from aiplugs.plan import EndpointSpec, ProxySpec, ScriptSpec

async def main():
    spec = ProxySpec(EndpointSpec("127.0.0.1", None, (1, 2)), "amend", "matched", (),
                     (ScriptSpec("p", ("*://localhost/*",), (), ("a.js",), (), "document_idle", False),))
    proxy = ProxyServer(spec, confdir=Path(sys.argv[1]), api_address=("127.0.0.1", 9), page_token="t")
    await proxy.start("127.0.0.1", 0)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{proxy.address[1]}"}))
    try:  # nothing listens on port 9: mitmproxy answers 502 and would normally log it
        await asyncio.to_thread(opener.open, "http://localhost:9/", None, 10)
    except Exception as e:
        assert "502" in str(e), e
    await proxy.stop()
    try:
        await ProxyServer(spec, confdir=Path(sys.argv[1]), api_address=None, page_token="t").start("256.0.0.1", 0)
    except Exception as e:
        assert type(e).__name__ == "AiplugsError", repr(e)
    else:
        raise AssertionError("started on a bad address")

asyncio.run(main())
"""


def test_embedded_proxy_prints_nothing_and_never_exits_the_host(tmp_path) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", SILENT + "\nprint('still here')", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "still here\n" and done.stderr == ""


async def test_a_page_of_any_size_streams_with_the_loader(system) -> None:
    """17 MB of chunked HTML (past what a buffering proxy would hold): the loader goes in as the head passes."""
    proxy = system["proxy"]
    async with proxied(proxy) as client:
        async with client.stream("GET", f"http://localhost:{system['origin'].port}/huge", headers=DOC) as response:
            first, size = b"", 0
            async for chunk in response.aiter_raw():
                if len(first) < 4096:
                    first += chunk  # what the browser gets first: the head, loader included
                size += len(chunk)
            assert response.headers["transfer-encoding"] == "chunked"
    assert first.startswith(b"<!doctype html><html><head></head><body><script nonce=")
    loader = first.index(b"</script>") + len(b"</script>") - len(b"<!doctype html><html><head></head><body>")
    assert size == 40 + loader + 17 * ((1 << 20) + 7) and proxy.injector.injected == 1


async def test_a_cancelled_start_leaves_nothing_running(tmp_path) -> None:
    proxy = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t")
    start = asyncio.create_task(proxy.start("127.0.0.1", 0))
    await asyncio.sleep(0)  # the start is inside its first await (binding the listening socket)
    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start
    assert proxy.address is None
    after = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t")
    await after.start("127.0.0.1", 0)  # not "another aiplugs proxy already runs in this process"
    await after.stop()


async def test_a_proxy_whose_event_loop_ended_does_not_block_the_next(tmp_path) -> None:
    """A proxy left running by a loop that is gone (a notebook thread, a host that exited without stop) runs
    nothing any more: the next proxy in the process starts."""

    async def abandon() -> None:
        await ProxyServer(make_spec(), confdir=tmp_path / "old", api_address=None, page_token="t").start("127.0.0.1", 0)

    thread = threading.Thread(target=asyncio.run, args=(abandon(),))
    thread.start()
    thread.join(60)
    proxy = ProxyServer(make_spec(), confdir=tmp_path / "new", api_address=None, page_token="t")
    await proxy.start("127.0.0.1", 0)
    assert proxy.address is not None
    await proxy.stop()


async def test_bad_mitmproxy_option_is_a_clear_error_and_leaves_nothing_running(tmp_path) -> None:
    bad = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t",
                      options={"no_such_option": 1})
    with pytest.raises(AiplugsError, match="cannot configure the proxy"):
        await bad.start("127.0.0.1", 0)
    good = ProxyServer(make_spec(), confdir=tmp_path / "c", api_address=None, page_token="t")
    await good.start("127.0.0.1", 0)
    await good.stop()


async def test_a_big_rule_swap_compiles_off_the_event_loop(system) -> None:
    proxy = system["proxy"]
    scripts = [script(f"p{n}", *(f"*://h{i}.site{n}.test/*" for i in range(1000))) for n in range(40)]
    big = make_spec(script("p1", "*://localhost/*"), *scripts)
    swap = asyncio.create_task(proxy.swap(big))
    await asyncio.sleep(0)  # the swap has started compiling
    async with proxied(proxy) as client:
        page = await client.get(f"http://localhost:{system['origin'].port}/", headers=DOC)
    served_while_compiling = not swap.done()
    await swap
    assert page.status_code == 200 and b'data-aiplugs="loader"' in page.content  # the old rules served it
    assert served_while_compiling  # the page did not wait for 40,000 patterns to compile
    assert proxy.injector.config.rules.plugins_for("https://h7.site3.test/x") == ("p3",)
    assert len(proxy._master.options.allow_hosts) == 1  # one combined regex, not 40,001


async def test_an_http10_origin_page_gets_the_loader_and_ends_with_the_connection(system) -> None:
    """HTTP/1.0 has no chunks: a page whose length changes is sent to its end and the connection closed."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE))
        await writer.drain()
        writer.close()

    origin = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = origin.sockets[0].getsockname()[1]
    try:
        async with proxied(system["proxy"]) as client:
            response = await client.get(f"http://localhost:{port}/", headers=DOC)
            again = await client.get(f"http://localhost:{port}/", headers=DOC)  # a new connection, no stale one
    finally:
        origin.close()
        await origin.wait_closed()
    for r in (response, again):
        assert r.status_code == 200 and "transfer-encoding" not in r.headers and "content-length" not in r.headers
        assert b'data-aiplugs="loader"' in r.content and r.content.endswith(b"<p>hello</p></body></html>")


async def test_an_http2_client_gets_the_spliced_page_framed_by_http2(serve, tmp_path, plugin_dirs, ca) -> None:
    """A browser speaking HTTP/2 to the proxy (an HTTP/1.1 origin behind it): no length, no chunks, h2 frames."""
    tls = await serve(origin_app(), ssl=ca.server_context())
    proxy = ProxyServer(make_spec(script("p1", "*://localhost/*")), confdir=tmp_path / "confdir", api_address=None,
                        page_token="t", options={"ssl_verify_upstream_trusted_ca": str(ca.ca_cert),
                                                 "connection_strategy": "lazy"})  # h2 offered before the origin
    await proxy.start("127.0.0.1", 0)
    try:
        pages = [await asyncio.to_thread(_h2_get, proxy, tls.port, path) for path in ("/", "/huge")]
    finally:
        await proxy.stop()
    for headers, body in pages:
        assert headers[":status"] == "200" and "content-length" not in headers and "transfer-encoding" not in headers
        assert body.count(b'data-aiplugs="loader"') == 1 and body.endswith((b"</html>", b"</p>"))
    assert len(pages[1][1]) > 17 * (1 << 20) and proxy.injector.injected == 2


def _h2_get(proxy: ProxyServer, port: int, path: str) -> tuple[dict[str, str], bytes]:
    """GET over HTTP/2 only (ALPN h2, as browsers prefer it) through the proxy's CONNECT tunnel."""
    import h2.connection
    import h2.events

    sock = socket.create_connection(proxy.address, timeout=20)  # type: ignore[arg-type]
    sock.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += sock.recv(4096)
    context = ssl.create_default_context(cafile=str(proxy.ca_cert_path))
    context.set_alpn_protocols(["h2"])
    with context.wrap_socket(sock, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection()
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "https"),
                              (":authority", f"localhost:{port}"), ("sec-fetch-dest", "document"),
                              ("accept", "text/html")], end_stream=True)
        tls.sendall(conn.data_to_send())
        headers: dict[str, str] = {}
        body = bytearray()
        while True:
            data = tls.recv(1 << 16)
            assert data, "the proxy closed the connection mid-response"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    return headers, bytes(body)
            tls.sendall(conn.data_to_send())
