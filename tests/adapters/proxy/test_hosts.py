"""Interception scope: mitmproxy allow/ignore regexes from the spec (plain values)."""

from __future__ import annotations

import re

from aiplugs.adapters.proxy.hosts import NEVER, HostFilter, host_regex, scope_for

from .conftest import make_spec, script


def matches(regexes: tuple[str, ...], hostport: str) -> bool:
    return any(re.search(r, hostport, re.IGNORECASE) for r in regexes)


def test_matched_scope_allows_only_https_capable_plugin_hosts() -> None:
    spec = make_spec(script("a", "*://*.wiki.test/*"), script("b", "https://exact.test/x/*"),
                     script("c", "http://plain-only.test/*"))
    scope = scope_for(spec)
    assert matches(scope.allow_hosts, "en.wiki.test:443")
    assert matches(scope.allow_hosts, "wiki.test:443")
    assert matches(scope.allow_hosts, "exact.test:8443")
    assert not matches(scope.allow_hosts, "notwiki.test:443")
    assert not matches(scope.allow_hosts, "exact.test.evil:443")
    assert not matches(scope.allow_hosts, "plain-only.test:443")  # http-only pattern: nothing to decrypt
    assert not matches(scope.allow_hosts, "127.0.0.1:443")
    assert scope.ignore_hosts == ()


def test_no_plugins_decrypts_nothing() -> None:
    scope = scope_for(make_spec())
    assert scope.allow_hosts == (NEVER,)
    assert not matches(scope.allow_hosts, "anything.test:443")


def test_all_urls_and_intercept_all_decrypt_everything_but_passthrough() -> None:
    assert scope_for(make_spec(script("a", "<all_urls>"))).allow_hosts == ()
    scope = scope_for(make_spec(script("a", "*://a.test/*"), intercept="all", passthrough=("*.bank.test",)))
    assert scope.allow_hosts == ()
    assert matches(scope.ignore_hosts, "www.bank.test:443") and matches(scope.ignore_hosts, "bank.test:443")
    assert not matches(scope.ignore_hosts, "a.test:443")


def test_passthrough_wins_over_plugins() -> None:
    scope = scope_for(make_spec(script("a", "*://*.bank.test/*"), passthrough=("login.bank.test",)))
    assert matches(scope.allow_hosts, "login.bank.test:443")
    assert matches(scope.ignore_hosts, "login.bank.test:443")  # mitmproxy applies ignore after allow


def test_host_regex_and_filter_agree() -> None:
    patterns = ["*.a.test", "b.test", "[::1]"]
    f = HostFilter(patterns)
    for host, expected in [("x.a.test", True), ("a.test", True), ("b.test", True), ("x.b.test", False),
                           ("::1", True), ("c.test", False)]:
        assert (host in f) == expected
        assert matches(tuple(host_regex(p) for p in patterns), f"{host}:443") == expected
    assert not HostFilter([]) and "x" not in HostFilter([])
