"""The PAC file: which hosts go to the proxy. Host lists are plain values; the script is evaluated in Chromium's
JavaScript engine, exactly as a browser runs it."""

from __future__ import annotations

import asyncio
import json

import pytest

from aiplugs.adapters.proxy.pac import host_sets, pac_script
from aiplugs.plan import EndpointSpec, ProxySpec, ScriptSpec

from ...e2e.conftest import launch_chromium

PROXY = ("127.0.0.1", 8123)


def spec(*matches: str, passthrough: tuple[str, ...] = ()) -> ProxySpec:
    scripts = tuple(ScriptSpec(f"p{i}", (m,), (), ("c.js",), (), "document_idle", False)
                    for i, m in enumerate(matches))
    return ProxySpec(EndpointSpec("127.0.0.1", None, (8080, 8180)), "amend", "matched", passthrough, scripts)


def test_host_sets_split_exact_names_from_domains() -> None:
    assert host_sets(["*.Wikipedia.org.", "localhost", "[::1]"]) == (False, ("::1", "localhost"), ("wikipedia.org",))
    assert host_sets(["example.com", "*"]).everything


EVALUATE = ("([script, hosts]) => { const f = new Function(script + '; return FindProxyForURL;')();"
            " const out = {}; for (const h of hosts) out[h] = f('http://' + h + '/x', h); return out; }")


def decide(*jobs: tuple[str, list[str]]) -> list[dict[str, str]]:
    """FindProxyForURL(url, host) for each (script, hosts) job, run in one headless Chromium."""

    async def run() -> list[dict[str, str]]:
        async with launch_chromium() as browser:
            page = await browser.new_page()
            return [await page.evaluate(EVALUATE, [script, hosts]) for script, hosts in jobs]

    return asyncio.run(run())


CASES = [
    # (patterns, passthrough, host, expected)
    (("*://*.wikipedia.org/wiki/*",), (), "en.wikipedia.org", "PROXY"),
    (("*://*.wikipedia.org/wiki/*",), (), "wikipedia.org", "PROXY"),
    (("*://*.wikipedia.org/wiki/*",), (), "notwikipedia.org", "DIRECT"),
    (("*://*.wikipedia.org/wiki/*",), (), "wikipedia.org.evil.test", "DIRECT"),
    (("*://*.wikipedia.org/wiki/*",), (), "EN.Wikipedia.ORG.", "PROXY"),
    (("http://localhost/*",), (), "localhost", "PROXY"),
    (("http://localhost/*",), (), "sub.localhost", "DIRECT"),
    (("https://news.ycombinator.com/*",), (), "example.com", "DIRECT"),
    (("*://*/*",), ("*.bank.example",), "anything.test", "PROXY"),
    (("<all_urls>",), ("*.bank.example",), "my.bank.example", "DIRECT"),
    (("*://*.example.com/*",), ("pay.example.com",), "pay.example.com", "DIRECT"),
    (("*://*.example.com/*",), ("pay.example.com",), "www.example.com", "PROXY"),
    (("http://[::1]/*",), (), "[::1]", "PROXY"),
]


@pytest.mark.e2e
def test_generated_pac_decides_like_the_rules() -> None:
    groups: dict[tuple, list[tuple[str, str]]] = {}
    for patterns, passthrough, host, expected in CASES:
        groups.setdefault((patterns, passthrough), []).append((host, expected))
    jobs = [(pac_script(spec(*patterns, passthrough=passthrough), PROXY), [host for host, _ in cases])
            for (patterns, passthrough), cases in groups.items()]
    for (key, cases), answers in zip(groups.items(), decide(*jobs)):
        for host, expected in cases:
            assert answers[host] == ("PROXY 127.0.0.1:8123" if expected == "PROXY" else "DIRECT"), (key, host)


@pytest.mark.e2e
def test_no_running_proxy_means_everything_direct_and_all_means_everything_proxied() -> None:
    stopped = pac_script(spec("*://*/*"), None)
    everything = pac_script(spec("http://localhost/*", passthrough=("bank.example",)), PROXY, everything=True)
    answers = decide((stopped, ["localhost"]), (everything, ["example.org", "bank.example"]))
    assert answers == [{"localhost": "DIRECT"}, {"example.org": "PROXY 127.0.0.1:8123", "bank.example": "DIRECT"}]


@pytest.mark.e2e
def test_the_router_itself_is_always_direct() -> None:
    script = pac_script(spec("http://127.0.0.1/*"), PROXY, api=("127.0.0.1", 5000))
    async def run() -> list[str]:
        async with launch_chromium() as browser:
            page = await browser.new_page()
            return await page.evaluate(
                "(script) => { const f = new Function(script + '; return FindProxyForURL;')();"
                " return [f('http://127.0.0.1:5000/welcome', '127.0.0.1'), f('http://127.0.0.1:8000/', '127.0.0.1')]; }",
                script)

    assert asyncio.run(run()) == ["DIRECT", "PROXY 127.0.0.1:8123"]


def test_the_script_is_plain_data_plus_one_function() -> None:
    text = pac_script(spec("*://*.wikipedia.org/*", "http://localhost/*", passthrough=("*.bank.example",)), PROXY)
    values = {line.split(" = ", 1)[0][4:]: json.loads(line.split(" = ", 1)[1].rstrip(";"))
              for line in text.splitlines() if line.startswith("var ")}
    assert values == {"AIPLUGS_PROXY": "PROXY 127.0.0.1:8123", "AIPLUGS_SELF": None, "AIPLUGS_ALL": False,
                      "AIPLUGS_HOSTS": {"localhost": 1}, "AIPLUGS_DOMAINS": ["wikipedia.org"],
                      "AIPLUGS_DIRECT_HOSTS": {}, "AIPLUGS_DIRECT_DOMAINS": ["bank.example"]}
    assert "shExpMatch" not in text and "dnsResolve" not in text
