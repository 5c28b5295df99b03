"""The injection addon, driven with mitmproxy's own test harness (taddons, tflow)."""

from __future__ import annotations

import gzip
import json
import os
import re

import pytest
from mitmproxy import http
from mitmproxy.test import taddons, tflow

from aiplugs.adapters.proxy.inject import InjectConfig, Injector
from aiplugs.adapters.proxy.loader import loader_asset
from aiplugs.adapters.proxy.splice import Splice

from .conftest import make_spec, script

PAGE = b"<!doctype html><html><head><meta charset=utf-8><title>t</title><script>page()</script></head><body>x</body></html>"
DOC = {"sec-fetch-dest": "document", "accept": "text/html"}
SPEC = make_spec(script("p1", "*://site.test/*", css=("c.css",)), script("p2", "*://other.test/*"),
                 script("frames", "*://site.test/framed/*", all_frames=True))


def addon(spec=SPEC, api=("127.0.0.1", 5999)) -> Injector:
    return Injector(InjectConfig.from_spec(spec, api_address=api, token="tok", version="9.9"))


def make_flow(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> http.HTTPFlow:
    f = tflow.tflow()
    f.request.method = method
    f.request.url = url
    f.request.headers.clear()
    f.request.headers["host"] = f.request.host_header or f.request.host
    for k, v in (headers or {}).items():
        f.request.headers[k] = v
    f.response = None
    return f


def respond(f: http.HTTPFlow, body: bytes = PAGE, status: int = 200, **headers: str) -> None:
    hdrs = {"content-type": "text/html; charset=utf-8", **{k.replace("_", "-"): v for k, v in headers.items()}}
    f.response = http.Response.make(status, b"")
    for k, v in hdrs.items():  # set after make(): make() re-encodes and would drop unknown codings
        f.response.headers[k] = v
    f.response.raw_content = body
    f.response.headers["content-length"] = str(len(body))


def cycle(a: Injector, f: http.HTTPFlow, piece: int = 0, **response) -> http.HTTPFlow:
    """requestheaders -> (origin answers) -> responseheaders -> body -> response, as mitmproxy calls them."""
    a.requestheaders(f)
    if f.response is None:
        respond(f, **response)
    a.responseheaders(f)
    return finish(a, f, piece)


def finish(a: Injector, f: http.HTTPFlow, piece: int = 0) -> http.HTTPFlow:
    """The body through the flow's stream transform as mitmproxy passes it (in pieces of ``piece`` bytes; 0: one
    piece, then ``b""``), the result as the client receives it in ``raw_content``; then the response hook."""
    stream = f.response.stream
    if callable(stream):
        raw = f.response.raw_content or b""
        pieces = [raw[i:i + piece] for i in range(0, len(raw), piece)] if piece else [raw]
        out = [chunk for p in pieces if p for chunk in stream(p)] + list(stream(b""))
        assert all(out), "an empty chunk would end an HTTP/1 chunked body"
        f.response.raw_content = b"".join(out)
    a.response(f)
    return f


def config_of(body: bytes) -> dict:
    m = re.search(rb"\}\)\((\{.*\})\);\n//\]\]></script>", body, re.DOTALL)
    assert m, "no loader config in body"
    return json.loads(m.group(1))


def test_injects_into_matched_document_and_fixes_headers() -> None:
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/page", {**DOC, "if-none-match": '"v1"', "if-modified-since": "x"})
        cycle(a, f, etag='"v1"', last_modified="Mon", expires="0", cache_control="max-age=600")
    body = f.response.raw_content
    assert "if-none-match" not in f.request.headers and "if-modified-since" not in f.request.headers
    assert isinstance(f.response.stream, Splice)
    at = body.index(b"<script nonce=")
    assert body[:at] == PAGE[:PAGE.index(b"<script>page()")]
    assert body.endswith(PAGE[PAGE.index(b"<script>page()"):])
    assert "content-length" not in f.response.headers and f.response.headers["transfer-encoding"] == "chunked"
    assert f.response.headers["cache-control"] == "no-store"
    for name in ("etag", "last-modified", "expires"):
        assert name not in f.response.headers
    config = config_of(body)
    assert config["token"] == "tok" and config["port"] == 5999 and config["v"] == "9.9"
    assert [e["id"] for e in config["scripts"]] == ["p1", "frames"]  # only entries that can match this host
    assert config["scripts"][0]["css"] == ["c.css"]
    assert a.injected == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_keeps_the_content_encoding(coding: str) -> None:
    from aiplugs.adapters.proxy.encoding import decode, encode

    a = addon()
    with taddons.context(a):
        f = cycle(a, make_flow("https://site.test/", DOC), body=encode(PAGE, coding), content_encoding=coding)
    assert f.response.headers["content-encoding"] == coding
    decoded = decode(f.response.raw_content, coding)
    assert b'data-aiplugs="loader"' in decoded and decoded.endswith(b"<body>x</body></html>")
    assert "content-length" not in f.response.headers


@pytest.mark.parametrize("url, headers, response, why", [
    ("https://site.test/app.js", {"sec-fetch-dest": "script"}, {}, "not a document"),
    ("https://site.test/api", {"sec-fetch-dest": "empty", "accept": "text/html"}, {}, "fetch()"),
    ("https://nomatch.test/", DOC, {}, "no plugin matches"),
    ("https://site.test/", DOC, {"status": 404}, "not 2xx"),
    ("https://site.test/", DOC, {"content_type": "application/json"}, "not html"),
    ("https://site.test/", DOC, {"content_encoding": "gzip, br"}, "stacked encoding"),
    ("https://site.test/framed/x", {"sec-fetch-dest": "iframe"}, {}, "frame"),
])
def test_everything_else_is_streamed_untouched(url, headers, response, why) -> None:
    a = addon(make_spec(script("p1", "*://site.test/*")))
    with taddons.context(a):
        f = make_flow(url, headers)
        before = dict(f.request.headers)
        cycle(a, f, **response)
    assert f.response.stream is True, why
    assert f.response.raw_content == PAGE
    assert dict(f.request.headers) == before


def test_iframe_gets_loader_only_for_all_frames_entries() -> None:
    a = addon()
    with taddons.context(a):
        f = cycle(a, make_flow("https://site.test/framed/x", {"sec-fetch-dest": "iframe"}))
        g = cycle(a, make_flow("https://site.test/other", {"sec-fetch-dest": "iframe"}))
    assert b'data-aiplugs="loader"' in f.response.raw_content
    assert g.response.stream is True


def test_plain_http_without_fetch_metadata_uses_accept() -> None:
    a = addon()
    with taddons.context(a):
        f = cycle(a, make_flow("http://site.test/", {"accept": "text/html,*/*"}))
        g = cycle(a, make_flow("http://site.test/", {"accept": "text/html", "x-requested-with": "XMLHttpRequest"}))
    assert b'data-aiplugs="loader"' in f.response.raw_content
    assert g.response.stream is True


def test_csp_header_and_meta_are_amended_with_one_nonce() -> None:
    page = (b"<html><head><meta http-equiv='Content-Security-Policy' content=\"script-src 'nonce-m'\">"
            b"<script nonce=m>page()</script><body>")
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f, body=page)
        f.response.headers.set_all("content-security-policy", ["script-src 'nonce-h' 'strict-dynamic'",
                                                               "connect-src https://api.test"])
        f.response.headers["content-security-policy-report-only"] = "default-src 'self'"
        f.response.headers["x-frame-options"] = "DENY"
        a.responseheaders(f)
        finish(a, f)
    body = f.response.raw_content
    nonce = re.search(rb'<script nonce="([^"]+)" data-aiplugs', body).group(1).decode()
    assert f.response.headers.get_all("content-security-policy") == [
        f"script-src 'nonce-h' 'strict-dynamic' 'nonce-{nonce}'",
        "connect-src https://api.test https://site.test/__aiplugs__/ wss://site.test/__aiplugs__/"]
    assert f"'nonce-{nonce}'" in f.response.headers["content-security-policy-report-only"]
    assert f"content=\"script-src 'nonce-m' 'nonce-{nonce}'\"".encode() in body
    assert f.response.headers["x-frame-options"] == "DENY"
    assert config_of(body)["nonce"] == nonce


def test_nonces_differ_per_response() -> None:
    a = addon()
    with taddons.context(a):
        bodies = [cycle(a, make_flow("https://site.test/", DOC)).response.raw_content for _ in range(2)]
    assert config_of(bodies[0])["nonce"] != config_of(bodies[1])["nonce"]


def test_strip_mode_removes_csp_and_frame_options() -> None:
    page = b"<head><meta http-equiv=content-security-policy content=\"script-src 'none'\"><body>"
    a = addon(make_spec(script("p1", "*://site.test/*"), csp="strip"))
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f, body=page, content_security_policy="script-src 'none'", x_frame_options="DENY")
        a.responseheaders(f)
        finish(a, f)
    for name in ("content-security-policy", "x-frame-options"):
        assert name not in f.response.headers
    assert b"http-equiv" not in f.response.raw_content
    assert config_of(f.response.raw_content)["nonce"] is None


def test_keep_mode_changes_no_policy() -> None:
    a = addon(make_spec(script("p1", "*://site.test/*"), csp="keep"))
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f, content_security_policy="script-src 'self'")
        a.responseheaders(f)
        finish(a, f)
    assert f.response.headers["content-security-policy"] == "script-src 'self'"
    assert b"<script data-aiplugs=\"loader\">" in f.response.raw_content


def test_trusted_types_page_tells_the_loader() -> None:
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f, content_security_policy="require-trusted-types-for 'script'; trusted-types app")
        a.responseheaders(f)
        finish(a, f)
    assert f.response.headers["content-security-policy"].endswith("trusted-types app aiplugs")
    assert config_of(f.response.raw_content)["tt"] is True


def test_chunked_response_gets_no_content_length() -> None:
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f)
        del f.response.headers["content-length"]
        f.response.headers["transfer-encoding"] = "chunked"
        a.responseheaders(f)
        finish(a, f)
    assert "content-length" not in f.response.headers
    assert b'data-aiplugs="loader"' in f.response.raw_content


def test_undecodable_page_passes_untouched() -> None:
    a = addon()
    with taddons.context(a):
        garbage = b"\x1f\x8b not gzip at all" + PAGE
        f = cycle(a, make_flow("https://site.test/", DOC), body=garbage, content_encoding="gzip")
    assert f.response.raw_content == garbage and a.failed == 1 and a.injected == 0


def test_page_that_stops_decoding_half_way_ends_as_a_valid_stream_and_is_reported() -> None:
    a = addon()
    with taddons.context(a):
        broken = gzip.compress(PAGE)[:-10]  # the loader went out with the head before the end proved broken
        f = cycle(a, make_flow("https://site.test/", DOC), body=broken, content_encoding="gzip")
    out = gzip.decompress(f.response.raw_content)  # a whole gzip stream: the browser shows what there was
    assert b'data-aiplugs="loader"' in out and a.failed == 1 and a.injected == 1


def test_api_path_is_routed_to_the_router() -> None:
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/__aiplugs__/v1/plugins/p1/run?x=1",
                      {"cookie": "session=secret", "authorization": "Basic x", "x-aiplugs-token": "tok"}, "POST")
        a.requestheaders(f)
    assert f.request.url == "http://127.0.0.1:5999/v1/plugins/p1/run?x=1"
    assert f.request.headers["host"] == "127.0.0.1:5999"
    assert "cookie" not in f.request.headers and "authorization" not in f.request.headers
    assert f.request.headers["x-aiplugs-token"] == "tok"


def test_api_path_on_passthrough_or_unmatched_host_reaches_the_origin() -> None:
    a = addon(make_spec(script("p1", "*://*.site.test/*"), passthrough=("bank.site.test",)))
    with taddons.context(a):
        f = make_flow("http://bank.site.test/__aiplugs__/v1/x")
        g = make_flow("http://elsewhere.test/__aiplugs__/v1/x")
        a.requestheaders(f)
        a.requestheaders(g)
    assert f.request.host == "bank.site.test" and g.request.host == "elsewhere.test"


def test_api_path_without_router_answers_503() -> None:
    a = addon(api=None)
    with taddons.context(a):
        f = make_flow("https://site.test/__aiplugs__/v1/plugins/p1/run", method="POST")
        a.requestheaders(f)
    assert f.response.status_code == 503 and b"router is not running" in f.response.content


def test_loader_script_is_answered_by_the_proxy_with_immutable_caching() -> None:
    """Even without a router: the bootstrap of every injected page asks for it."""
    asset = loader_asset()
    a = addon(api=None)
    with taddons.context(a):
        f = make_flow(f"https://site.test/__aiplugs__/{asset.path}", {"sec-fetch-dest": "script"})
        a.requestheaders(f)
        head = make_flow(f"https://site.test/__aiplugs__/{asset.path}", method="HEAD")
        a.requestheaders(head)
        stale = make_flow("https://site.test/__aiplugs__/loader.0000000000000000.js")
        a.requestheaders(stale)
        unmatched = make_flow(f"https://elsewhere.test/__aiplugs__/{asset.path}")
        a.requestheaders(unmatched)
    assert f.response.status_code == 200 and f.response.content == asset.body
    assert f.response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert f.response.headers["content-type"].startswith("text/javascript")
    assert head.response.status_code == 200 and head.response.content == b""
    assert head.response.headers["content-length"] == str(len(asset.body))
    assert stale.response.status_code == 503  # another name is the router's business (none runs here)
    assert unmatched.response is None and unmatched.request.host == "elsewhere.test"


def test_hot_swap_applies_to_the_next_flow() -> None:
    a = addon(make_spec(script("p1", "*://site.test/*")))
    with taddons.context(a):
        before = cycle(a, make_flow("https://new.test/", DOC))
        a.set_config(InjectConfig.from_spec(make_spec(script("p9", "*://new.test/*"), csp="strip"),
                                            api_address=("127.0.0.1", 6000), token="tok2", version="9.9"))
        after = cycle(a, make_flow("https://new.test/", DOC))
        old = cycle(a, make_flow("https://site.test/", DOC))
    assert before.response.stream is True
    config = config_of(after.response.raw_content)
    assert [e["id"] for e in config["scripts"]] == ["p9"] and config["port"] == 6000 and config["token"] == "tok2"
    assert old.response.stream is True


@pytest.mark.parametrize("coding", ["identity", "gzip", "br"])
def test_big_page_streams_the_head_with_the_loader_before_the_rest_arrives(coding: str) -> None:
    from aiplugs.adapters.proxy.encoding import Decoder, encode

    tail = os.urandom(300_000).hex().encode() + b"</body></html>"
    big = PAGE.replace(b"x</body></html>", tail)
    raw = encode(big, coding)  # type: ignore[arg-type]
    a = addon()
    with taddons.context(a):
        f = make_flow("https://site.test/", DOC)
        a.requestheaders(f)
        respond(f, body=raw, content_encoding=coding)
        a.responseheaders(f)
        splice = f.response.stream
        first = splice(raw[:4096])  # the first piece off the wire
        decoder = Decoder(coding)  # type: ignore[arg-type]
        head = b"".join(decoder.feed(p) for p in first)
        assert b'data-aiplugs="loader"' in head  # sent on: the browser has the head before the page is in
        rest = [chunk for i in range(4096, len(raw), 65536) for chunk in splice(raw[i:i + 65536])]
        rest += splice(b"")
        f.response.raw_content = b"".join(first + rest)
        a.response(f)
    out = head + b"".join(decoder.feed(p) for p in rest) + decoder.finish()
    assert out.endswith(tail) and out.count(b'data-aiplugs="loader"') == 1 and a.injected == 1
    assert splice._raw is None and not splice._head  # nothing of the page kept after the decision
