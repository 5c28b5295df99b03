"""The loader snippet: ASCII, safe to inline in HTML and XHTML, carrying the config the page needs."""

from __future__ import annotations

import json
import re

from aiplugs.adapters.proxy.loader import compile_entry, loader_config, loader_source, snippet, to_js_literal

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
    assert b"nonce=" not in snippet(config)


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
    for name in ("AIPLUGS_API_PORT", "call:", "stream:", "connect:", "loaded:", "aiplugs:navigate", "pushState",
                 "replaceState", "popstate", "hashchange", "navigation", "X-AIPlugs-Token", "createPolicy",
                 "on:", "publish:", "/tools/", "/v1/events/ws", "aiplugs:error"):
        assert name in source
    assert "/*CONFIG*/" in source
    assert not any(line.lstrip().startswith("//") for line in source.splitlines())
