"""End to end in real headless Chromium: browser -> aiplugs proxy -> local HTTP/HTTPS origins, plugin calls through
the same-origin API path to a stand-in router.

One system per module (origins, router, proxy, browser); each test opens its own page.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from aiplugs.declaration.manifest import load_plugins
from aiplugs.adapters.proxy import ProxyServer
from aiplugs.plan import EndpointSpec, ProxySpec, ScriptSpec

from .conftest import StandInRouter, launch_chromium, start_app

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

REPO = Path(__file__).resolve().parents[2]
TEXT = "Plugins read this page. It has a few words that the word count plugin will count for us."
BIG_SIZE = 50 * 1024 * 1024
IMAGE = bytes(range(256)) * 64 + os.urandom(1000)
DATA = {"items": list(range(100)), "text": "données ✓"}
MARKER_JS = """
document.documentElement.dataset.marker = "ran";
window.aiplugs.call("marker", {n: 1}).then(function (r) {
  document.documentElement.dataset.call = JSON.stringify(r);
}, function (e) { document.documentElement.dataset.call = "error: " + e.message; });
window.addEventListener("aiplugs:navigate", function (e) { document.documentElement.dataset.nav = e.detail.url; });
"""
SPA_JS = 'document.documentElement.dataset.spa = (document.documentElement.dataset.spa || "") + "ran";\n'


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset=utf-8><title>t</title>{head}</head><body>{body}</body></html>"


PAGE_SCRIPT = "<script{attr}>document.documentElement.dataset.page = 'ran';</script>"
PAGES: dict[str, tuple[str, dict[str, str]]] = {
    "/plain": (page(f"<p>{TEXT}</p>"), {}),
    "/strict": (page(f"<p>{TEXT}</p>" + PAGE_SCRIPT.format(attr=' nonce="pagenonce"')
                     + "<script>document.documentElement.dataset.evil = 'ran';</script>"),
                {"Content-Security-Policy": "script-src 'nonce-pagenonce' 'strict-dynamic'; object-src 'none'; "
                                            "base-uri 'none'; connect-src 'none'"}),
    "/meta": (page(f"<p>{TEXT}</p>" + PAGE_SCRIPT.format(attr=' nonce="m1"'),
                   head="<meta http-equiv=\"Content-Security-Policy\" "
                        "content=\"script-src 'nonce-m1'; connect-src 'none'; style-src 'none'\">"), {}),
    "/unsafe-inline": (page(f"<p>{TEXT}</p>" + PAGE_SCRIPT.format(attr="")
                            + "<img src=x onerror=\"document.documentElement.dataset.handler='ran'\">"),
                       {"Content-Security-Policy": "script-src 'self' 'unsafe-inline'; img-src 'self'"}),
    "/trusted-types": (page(f"<p>{TEXT}</p>" + PAGE_SCRIPT.format(attr=' nonce="tt"')),
                       {"Content-Security-Policy": "script-src 'nonce-tt'; require-trusted-types-for 'script'; "
                                                   "trusted-types app"}),
    "/spa": (page("<p>single page app</p>"), {}),
    "/gallery": (page('<img id=img src="/img.bin">'), {}),
    "/framed": (page('<iframe id=f src="/frame-doc"></iframe>'), {}),
    "/frame-doc": (page("<p>inside a frame</p>"), {}),
}


COMPRESSED = page(f"<p>{TEXT}</p>" + PAGE_SCRIPT.format(attr="")).encode()


def origin_app() -> web.Application:
    app = web.Application()

    async def compressed(request: web.Request) -> web.StreamResponse:
        """The page compressed in ``coding``, sent in 64-byte pieces (chunked): the proxy splices as they come."""
        import brotli

        coding = request.match_info["coding"]
        data = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[coding](COMPRESSED)
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8",
                                               "Content-Encoding": coding})
        await response.prepare(request)
        for i in range(0, len(data), 64):
            await response.write(data[i:i + 64])
        return response

    async def html(request: web.Request) -> web.Response:
        body, headers = PAGES[request.path]
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(BIG_SIZE)})
        await response.prepare(request)
        for chunk in big_chunks():
            await response.write(chunk)
        return response

    for path in PAGES:
        app.router.add_get(path, html)
    app.router.add_get("/data.json", lambda r: web.json_response(DATA))
    app.router.add_get("/img.bin", lambda r: web.Response(body=IMAGE, content_type="image/png"))
    app.router.add_get("/big.bin", big)
    app.router.add_get("/compressed/{coding}", compressed)
    return app


def big_chunks():
    block = hashlib.sha256(b"aiplugs").digest() * (1 << 15)  # 1 MiB, deterministic
    for i in range(BIG_SIZE // len(block)):
        yield block[:-1] + bytes([i % 256])


def example_scripts(plugin_id: str) -> list[ScriptSpec]:
    manifest = load_plugins(REPO / "plugins")[plugin_id].manifest
    return [ScriptSpec(plugin_id, cs.matches, cs.exclude_matches, cs.js, cs.css, cs.run_at, cs.all_frames)
            for cs in manifest.content_scripts]


def word_count_backend():
    spec = importlib.util.spec_from_file_location("wc_backend", REPO / "plugins" / "word-count" / "backend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    from aiplugs.adapters.workers.plugin_context import Context

    ctx = Context.from_env({"AIPLUGS_PLUGIN_ID": "word-count"}, sink=lambda frame: None, fallback_id="word-count")
    return lambda payload: module.run(payload, ctx)  # the worker's own ctx; its events go nowhere here


def _run(wc_run, plugin_id: str, payload: Any) -> Any:
    if plugin_id == "word-count":
        return wc_run(payload)
    if plugin_id == "fail":
        raise ValueError("the model refused: " + str(payload))
    return {"got": payload}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory, origin_ca) -> Any:
    folder = tmp_path_factory.mktemp("plugins")
    (folder / "marker").mkdir()
    (folder / "marker" / "content.js").write_text(MARKER_JS)
    (folder / "framer").mkdir()
    (folder / "framer" / "content.js").write_text('document.documentElement.dataset.framer = "ran";\n')
    (folder / "spa").mkdir()
    (folder / "spa" / "content.js").write_text(SPA_JS)
    wc_run = word_count_backend()
    router = StandInRouter("page-token", {"marker": folder / "marker", "spa": folder / "spa",
                                          "framer": folder / "framer",
                                          "word-count": REPO / "plugins" / "word-count"},
                           run=lambda pid, payload: _run(wc_run, pid, payload))
    api = await start_app(router.app())
    http_origin = await start_app(origin_app())
    https_origin = await start_app(origin_app(), ssl=origin_ca.server_context())
    scripts = [ScriptSpec("marker", ("*://localhost/*",), ("*://*/spa*", "*://*/gallery*"), ("content.js",), (),
                          "document_end", False),
               ScriptSpec("spa", ("*://localhost/app/*",), (), ("content.js",), (), "document_idle", False),
               ScriptSpec("framer", ("*://localhost/frame-doc*",), (), ("content.js",), (), "document_start", True),
               *example_scripts("word-count")]
    spec = ProxySpec(EndpointSpec("127.0.0.1", None, (8080, 8180)), "amend", "matched", (), tuple(scripts))
    proxy = ProxyServer(spec, confdir=tmp_path_factory.mktemp("confdir"), api_address=("127.0.0.1", api.port),
                        page_token="page-token", options={"ssl_verify_upstream_trusted_ca": str(origin_ca.ca_cert)})
    await proxy.start("127.0.0.1", 0)
    try:
        async with launch_chromium(proxy.address) as browser:
            context = await browser.new_context(ignore_https_errors=True)
            yield {"http": f"http://localhost:{http_origin.port}", "https": f"https://localhost:{https_origin.port}",
                   "https_unmatched": f"https://127.0.0.1:{https_origin.port}", "context": context,
                   "proxy": proxy, "router": router, "ca": origin_ca}
            await context.close()
    finally:
        await proxy.stop()
        for server in (https_origin, http_origin, api):
            await server.close()


async def open_page(system, url: str):
    page = await system["context"].new_page()
    response = await page.goto(url)
    assert response is not None and response.ok, url
    return page, response


async def dataset(page, key: str, timeout: float = 10_000) -> str:
    await page.wait_for_function(f"document.documentElement.dataset[{json.dumps(key)}] !== undefined",
                                 timeout=timeout)
    return await page.evaluate(f"document.documentElement.dataset[{json.dumps(key)}]")


@pytest.mark.parametrize("base", ["http", "https"])
async def test_plugin_runs_on_a_plain_page_and_calls_its_backend(system, base) -> None:
    page, _ = await open_page(system, system[base] + "/plain")
    assert await dataset(page, "marker") == "ran"
    assert json.loads(await dataset(page, "call")) == {"got": {"n": 1}}
    api = await page.evaluate("({port: window.AIPLUGS_API_PORT, base: window.aiplugs.base, "
                              "token: window.aiplugs.token, loaded: window.aiplugs.loaded})")
    assert api == {"port": system["proxy"].api_address[1], "base": "/__aiplugs__", "token": "page-token",
                   "loaded": ["marker", "word-count"] if base == "http" else ["marker"]}
    await page.close()


async def test_loader_is_a_small_inline_bootstrap_and_one_cached_script(system) -> None:
    page, response = await open_page(system, system["http"] + "/plain")
    body = await response.body()
    inline = re.search(rb'<script nonce="[^"]+" data-aiplugs="loader">.*?</script>', body, re.DOTALL)
    assert inline is not None
    rules = re.search(rb',"rx":(\[.*\]),"scripts":(\[.*\])\}\);', inline.group(), re.DOTALL)
    assert rules is not None and len(json.loads(rules.group(2))) == 4  # this page: 4 plugins, 6 patterns
    # the fixed part (code, nonce, token, port) leaves room for a typical page's rules within 1,500 bytes
    assert len(inline.group()) - len(rules.group(1)) - len(rules.group(2)) <= 1000
    assert await dataset(page, "marker") == "ran"
    await page.goto(system["http"] + "/spa")  # another page of the same origin: the loader comes from the cache
    await page.wait_for_function("window.aiplugs !== undefined")
    sizes = await page.evaluate("""performance.getEntriesByType('resource')
        .filter(function (e) { return /\\/__aiplugs__\\/loader\\.[0-9a-f]{16}\\.js$/.test(e.name); })
        .map(function (e) { return e.transferSize; })""")
    assert sizes == [0]
    await page.close()


async def test_example_word_count_plugin_shows_its_badge(system) -> None:
    page, _ = await open_page(system, system["http"] + "/plain")
    badge = page.locator("#aiplugs-word-count")
    await badge.wait_for(timeout=10_000)
    words = int(await badge.get_attribute("data-words"))
    assert words == len(TEXT.split())  # counted by the real backend, called through the same-origin path
    await page.close()


async def test_strict_nonce_csp_page(system) -> None:
    page, response = await open_page(system, system["https"] + "/strict")
    assert await dataset(page, "marker") == "ran"
    assert await dataset(page, "page") == "ran"  # the page's own nonced script still runs
    assert json.loads(await dataset(page, "call")) == {"got": {"n": 1}}  # connect-src 'none' + API path
    assert await page.evaluate("document.documentElement.dataset.evil") is None  # its CSP still blocks the rest
    assert "'nonce-pagenonce'" in (await response.all_headers())["content-security-policy"]
    await page.close()


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
async def test_a_compressed_page_arriving_in_pieces_keeps_its_coding_and_its_text(system, coding) -> None:
    page, response = await open_page(system, system["http"] + f"/compressed/{coding}")
    assert await dataset(page, "marker") == "ran" and await dataset(page, "page") == "ran"
    assert (await response.all_headers())["content-encoding"] == coding  # re-encoded as it streamed, same coding
    assert await page.inner_text("p") == TEXT  # the page decoded whole (the word-count badge sits beside it)
    await page.close()


async def test_meta_csp_page(system) -> None:
    page, _ = await open_page(system, system["http"] + "/meta")
    assert await dataset(page, "marker") == "ran"
    assert await dataset(page, "page") == "ran"
    assert json.loads(await dataset(page, "call")) == {"got": {"n": 1}}
    await page.close()


async def test_unsafe_inline_page_keeps_its_inline_scripts_and_handlers(system) -> None:
    page, _ = await open_page(system, system["http"] + "/unsafe-inline")
    assert await dataset(page, "marker") == "ran"
    assert await dataset(page, "page") == "ran"
    assert await dataset(page, "handler") == "ran"
    await page.close()


async def test_trusted_types_page(system) -> None:
    page, _ = await open_page(system, system["https"] + "/trusted-types")
    assert await dataset(page, "marker") == "ran"
    assert await dataset(page, "page") == "ran"
    await page.close()


async def test_spa_push_state_into_a_newly_matching_route(system) -> None:
    page, _ = await open_page(system, system["http"] + "/spa")
    await page.wait_for_function("window.aiplugs !== undefined")
    assert "spa" not in await page.evaluate("window.aiplugs.loaded")
    await page.evaluate("history.pushState({}, '', '/app/one')")
    assert await dataset(page, "spa") == "ran"
    assert "spa" in await page.evaluate("window.aiplugs.loaded")
    events = await page.evaluate("""new Promise(function (resolve) {
        var seen = [];
        window.addEventListener('aiplugs:navigate', function (e) { seen.push(e.detail.url); });
        history.pushState({}, '', '/app/two');
        location.hash = '#h';
        setTimeout(function () { resolve(seen); }, 300);
    })""")
    assert events[0].endswith("/app/two") and events[-1].endswith("/app/two#h")
    assert await page.evaluate("document.documentElement.dataset.spa") == "ran"  # loaded once per document
    await page.close()


async def test_json_image_and_50mb_download_are_byte_identical(system) -> None:
    page, _ = await open_page(system, system["https"] + "/gallery")
    bodies = {}
    page.on("response", lambda r: bodies.setdefault(r.url.rsplit("/", 1)[-1], r))
    await page.reload()
    await page.wait_for_function("document.getElementById('img').complete")
    assert await bodies["img.bin"].body() == IMAGE
    text = await page.evaluate("fetch('/data.json').then(function (r) { return r.text(); })")
    assert json.loads(text) == DATA
    digest = await page.evaluate("""fetch('/big.bin').then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return crypto.subtle.digest('SHA-256', b).then(function (d) {
            return [b.byteLength, Array.from(new Uint8Array(d)).map(function (x) {
                return x.toString(16).padStart(2, '0'); }).join('')]; }); })""")
    expected = hashlib.sha256()
    for chunk in big_chunks():
        expected.update(chunk)
    assert digest == [BIG_SIZE, expected.hexdigest()]
    await page.close()


async def test_unmatched_https_host_is_not_decrypted(system) -> None:
    matched_page, matched = await open_page(system, system["https"] + "/plain")
    page, response = await open_page(system, system["https_unmatched"] + "/plain")
    assert (await matched.security_details())["issuer"] == "mitmproxy"
    assert (await response.security_details())["issuer"] == system["ca"].name  # the origin's own certificate
    assert await page.evaluate("window.aiplugs === undefined")
    await page.close()
    await matched_page.close()


async def test_page_api_stream_connect_and_errors(system) -> None:
    page, _ = await open_page(system, system["https"] + "/strict")  # its CSP has connect-src 'none'; we amend
    await page.wait_for_function("window.aiplugs !== undefined")
    result = await page.evaluate("""async function () {
        var events = [];
        var last = await window.aiplugs.stream("marker", {q: 1}, function (e) { events.push([e.event, e.data]); });
        var error = await window.aiplugs.call("fail", {why: "x"}).then(function () { return null; },
            function (e) { return {message: e.message, status: e.status}; });
        var seen = 0;
        var streamError = await window.aiplugs.stream("fail", {}, function () { seen += 1; })
            .then(function () { return null; }, function (e) { return [e.message, seen]; });
        var echo = await new Promise(function (resolve, reject) {
            var ws = window.aiplugs.connect("marker", "client-1");
            ws.onopen = function () { ws.send("ping"); };
            ws.onmessage = function (m) { resolve(JSON.parse(m.data)); ws.close(); };
            ws.onerror = function () { reject(new Error("websocket failed")); };
        });
        return {events: events, last: last, error: error, streamError: streamError, echo: echo};
    }""")
    assert result["events"] == [["chunk", {"i": 0, "plugin": "marker"}], ["chunk", {"i": 1, "plugin": "marker"}],
                                ["chunk", {"i": 2, "plugin": "marker"}], ["done", {}]]
    assert result["last"] == {}
    assert result["error"] == {"message": "the model refused: {'why': 'x'}", "status": 400}
    assert result["streamError"] == ["broke mid-stream", 4]
    assert result["echo"] == {"client_id": "client-1", "plugin": "marker", "echo": "ping"}
    await page.close()


async def test_all_frames_decides_what_runs_in_an_iframe(system) -> None:
    page, _ = await open_page(system, system["http"] + "/framed")
    assert await dataset(page, "marker") == "ran"  # top document
    frame = page.frame_locator("#f")
    await frame.locator("p").wait_for()
    inner = page.frames[1]
    await inner.wait_for_function("document.documentElement.dataset.framer === 'ran'", timeout=10_000)
    assert await inner.evaluate("window.aiplugs.loaded") == ["framer"]  # marker: not all_frames
    assert await inner.evaluate("document.documentElement.dataset.marker") is None
    await page.close()
