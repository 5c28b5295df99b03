"""The loader: an inline bootstrap (ASCII, safe to inline in HTML and XHTML, small, carrying the config the page
needs) and the cacheable, content-hashed loader script it loads."""

from __future__ import annotations

import hashlib
import json
import re

from aiplugs.adapters.proxy.loader import (SnippetTemplate, bootstrap_source, compile_entry, loader_asset,
                                           loader_config, loader_source, snippet, to_js_literal)

from .conftest import script


def test_snippet_is_ascii_and_cannot_break_out_of_its_script() -> None:
    hostile = script("p1", "*://a.test/*", js=("</script><script>alert(1)</script>.js", "]]>\u2028x.js"))
    config = loader_config([compile_entry(hostile).for_host("a.test")], token="t<>&", api_port=5001, version="1.0",
                           nonce="abc", trusted_types=False)
    out = snippet(config)
    out.decode("ascii")  # raises if not ASCII
    inner = out[out.index(b">") + 1:out.rindex(b"</script>")]
    assert b"</script" not in inner.lower() and b"]]>" not in inner[:-len(b"//]]>")]
    assert out.startswith(b'<script nonce="abc" data-aiplugs="loader">//<![CDATA[\n')
    assert out.endswith(b"\n//]]></script>")


def test_config_round_trips_through_the_js_literal() -> None:
    entry = compile_entry(script("p1", "*://*.a.test/docs/*", exclude=("*://*/*?off*",), css=("a.css",),
                                 run_at="document_start", all_frames=True)).for_host("en.a.test")
    config = loader_config([entry], token="tok", api_port=5001, version="1.0", nonce=None, trusted_types=True)
    assert json.loads(to_js_literal(config)) == config
    assert entry == {"id": "p1", "m": [entry["m"][0]], "x": [entry["x"][0]], "js": ["content.js"],
                     "css": ["a.css"], "run": "document_start", "all": True}
    assert re.search(entry["m"][0], "https://en.a.test/docs/x") and not re.search(entry["m"][0], "https://a.test/")
    assert snippet(config).startswith(b'<script data-aiplugs="loader">')  # no nonce attribute without one


def test_config_names_each_distinct_pattern_once_and_leaves_defaults_out() -> None:
    shared = ("*://*/*?off*",)
    a = compile_entry(script("a", "*://a.test/*", exclude=shared, css=("a.css",), all_frames=True,
                             run_at="document_start")).for_host("a.test")
    b = compile_entry(script("b", "*://a.test/*", exclude=shared)).for_host("a.test")
    c = compile_entry(script("c", "*://a.test/docs/*")).for_host("a.test")
    config = loader_config([a, b, c], token="t", api_port=1, version="1", nonce=None, trusted_types=False)
    rx = config["rx"]
    assert len(rx) == 3 and len(set(rx)) == 3
    first, second, third = config["scripts"]
    assert first == {"id": "a", "js": ["content.js"], "m": [0], "run": "document_start", "x": [1],
                     "css": ["a.css"], "all": True}
    assert second == {"id": "b", "js": ["content.js"], "m": [0], "x": [1]}
    assert third == {"id": "c", "js": ["content.js"], "m": [2]}
    assert [rx[i] for i in first["m"]] == a["m"] and [rx[i] for i in third["m"]] == c["m"]


def test_a_page_gets_only_the_patterns_its_host_can_match() -> None:
    many = script("p1", *(f"*://site{i}.test/*" for i in range(300)), "*://*.shared.test/*",
                  exclude=("*://site7.test/private/*", "*://other.test/*"))
    entry = compile_entry(many)
    on_seven = entry.for_host("site7.test")
    assert len(on_seven["m"]) == 1 and re.search(on_seven["m"][0], "https://site7.test/a")
    assert len(on_seven["x"]) == 1 and re.search(on_seven["x"][0], "https://site7.test/private/x")
    assert len(entry.for_host("www.shared.test")["m"]) == 1 and entry.for_host("www.shared.test")["x"] == []
    assert len(to_js_literal(on_seven)) < 300  # not 300 patterns' worth


def test_loader_source_defines_the_page_contract() -> None:
    source = loader_source()
    for name in ("AIPLUGS_API_PORT", "call:", "stream:", "connect:", "loaded:", "aiplugs:navigate", "B.n = changed",
                 "popstate", "hashchange", "navigation", "X-AIPlugs-Token", "on:", "publish:", "/tools/",
                 "/v1/events/ws", "aiplugs:error", "window.__aiplugs"):
        assert name in source
    assert not any(line.lstrip().startswith("//") for line in source.splitlines())


def test_bootstrap_captures_what_cannot_wait_and_loads_the_hashed_loader() -> None:
    boot = bootstrap_source()
    for name in ("h.pushState=wrap(", "h.replaceState=wrap(", "w.fetch", "w.WebSocket", "createPolicy(\"aiplugs\"",
                 "createScriptURL", "s.nonce=C.nonce", "w.__aiplugs="):
        assert name in boot
    asset = loader_asset()
    assert f'"/{asset.path}"' in boot and "/*CONFIG*/" in boot and "/*HASH*/" not in boot
    assert asset.path == f"loader.{hashlib.sha256(asset.body).hexdigest()[:16]}.js"
    assert dict(asset.headers)["cache-control"] == "public, max-age=31536000, immutable"


def test_inline_bootstrap_of_a_typical_page_is_at_most_1500_bytes() -> None:
    """The issue's budget: two plugins matching the page's host, a nonce, Trusted Types on."""
    entries = [compile_entry(script(pid, "*://news.ycombinator.com/*", "http://localhost/*", "http://127.0.0.1/*",
                                    exclude=("*://*/*?aiplugs=off*",), css=("content.css",), run_at="document_end"))
               .for_host("127.0.0.1") for pid in ("word-count", "sentiment")]
    config = loader_config(entries, token="x" * 43, api_port=5001, version="0.1.0", nonce="n" * 24,
                           trusted_types=True)
    assert len(snippet(config)) <= 1500
    assert len(loader_asset().body) > 3 * len(bootstrap_source())  # the bulk is in the cacheable file


def test_snippet_template_renders_exactly_what_snippet_does() -> None:
    entries = [compile_entry(script("p1", "*://a.test/*", exclude=("*://*/*?x=\"nonce\":null,\"tt\":false*",)))
               .for_host("a.test")]
    template = SnippetTemplate(entries, token='t"<', api_port=7, version="2")
    for nonce, tt in ((None, False), ("abc", True), ("xyz", False)):
        expected = snippet(loader_config(entries, token='t"<', api_port=7, version="2", nonce=nonce, trusted_types=tt))
        assert template.render(nonce, tt) == expected
