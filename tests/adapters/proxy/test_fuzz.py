"""Random HTML bytes and headers never crash the addon, and the page comes out either unchanged or with exactly
one loader snippet inserted (and nothing else changed)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.test import taddons

from aiplugs.adapters.proxy.encoding import DecodeError, decode, encode

from .test_inject import addon, finish, make_flow, respond
from .conftest import make_spec, script

SNIPPET = re.compile(rb'<script(?: nonce="[^"]+")? data-aiplugs="loader">//<!\[CDATA\[\n.*?\n//\]\]></script>',
                     re.DOTALL)
PIECES = [b"<!DOCTYPE html>", b"<html>", b"<HEAD>", b"<head >", b"</head>", b"<body>", b"<BODY class='a>b'>",
          b"<meta charset=utf-8>", b"<meta charset=\"euc-kr\">", b"<script>", b"</script>", b"<SCRIPT src=x>",
          b"<style>", b"</style>", b"<!--", b"-->", b"<noscript>", b"</noscript>", b"<title>", b"</title>",
          b"<template>", b"<p>", b"text", b" ", b"\n", b"<", b">", b"'", b'"', b"=", b"\xef\xbb\xbf", b"\xa1\xa2",
          b"\x82\xa0", b"<!x>", b"<?xml?>", b"</", b"<meta http-equiv=content-type content='text/html;charset=sjis'>",
          b"\x1b$B", b"\x00"]
body_strategy = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join),
    st.binary(max_size=300),
    st.tuples(st.lists(st.sampled_from(PIECES), max_size=20).map(b"".join), st.binary(max_size=50)).map(b"".join),
)
header_strategy = st.fixed_dictionaries({}, optional={
    "content-type": st.sampled_from(["text/html", "text/html; charset=shift_jis", "application/xhtml+xml",
                                     "text/html; charset=utf-16", "text/plain", "TEXT/HTML", ""]),
    "content-encoding": st.sampled_from(["gzip", "br", "deflate", "zstd", "identity", "gzip, br", "bogus", ""]),
    "content-security-policy": st.sampled_from(["script-src 'self'", "default-src 'none'", "", ";;,,",
                                                "script-src 'unsafe-inline'", "trusted-types 'none'"]),
    "transfer-encoding": st.just("chunked"),
})
request_strategy = st.fixed_dictionaries({}, optional={
    "sec-fetch-dest": st.sampled_from(["document", "iframe", "script", "empty", ""]),
    "accept": st.sampled_from(["text/html", "*/*", ""]),
})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=body_strategy, headers=header_strategy, request=request_strategy,
       status=st.sampled_from([200, 200, 200, 204, 206, 304, 404]), compress=st.booleans(),
       csp=st.sampled_from(["amend", "keep"]), piece=st.sampled_from([0, 1, 7, 64, 200]))
def test_addon_never_breaks_a_page(body, headers, request, status, compress, csp, piece) -> None:
    a = addon(make_spec(script("p1", "*://site.test/*"), csp=csp))
    coding = headers.get("content-encoding", "")
    raw = body
    if compress and coding in ("gzip", "br", "deflate", "zstd"):
        raw = encode(body, coding)  # a valid body for its header; otherwise the raw bytes are random
    with taddons.context(a):
        f = make_flow("https://site.test/page", request)
        a.requestheaders(f)
        respond(f, body=raw, status=status, **{k.replace("-", "_"): v for k, v in headers.items()})
        a.responseheaders(f)
        finish(a, f, piece)  # the body in pieces of every size: the decision must not depend on where they end
    out = f.response.raw_content
    if out == raw:
        return
    assert f.response.headers.get("content-encoding", "") == coding
    decoded_in = decode(raw, coding or "identity")  # type: ignore[arg-type]
    decoded_out = decode(out, coding or "identity")  # type: ignore[arg-type]
    found = list(SNIPPET.finditer(decoded_out))
    assert len(found) == len(list(SNIPPET.finditer(decoded_in))) + 1
    if b"http-equiv" not in decoded_in.lower():  # a meta CSP may legitimately be amended too
        new = [m for m in found if m.group() not in decoded_in]
        assert len(new) == 1
        m = new[0]
        assert decoded_out[:m.start()] + decoded_out[m.end():] == decoded_in
    assert f.response.headers.get("content-length") in (None, str(len(out)))


def test_decode_error_is_the_only_decode_failure() -> None:
    try:
        decode(b"\x1f\x8b garbage", "gzip")
    except DecodeError:
        return
    raise AssertionError("garbage gzip decoded")
