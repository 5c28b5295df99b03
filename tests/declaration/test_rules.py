"""Match patterns against the documented examples of Chrome and Firefox, malformed patterns, and rule sets.

Tables: developer.chrome.com "Match patterns" (valid / invalid examples) and MDN "Match patterns" (Examples,
Invalid or unmatched patterns). aiplugs keeps Chrome's MV3 grammar for web pages only: schemes http and https
(``*`` = both); the file/ftp/urn/ws rows of those tables are outside it and must raise PatternError instead.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiplugs
from aiplugs.declaration.rules import MatchPattern, PatternError, RuleSet, ScriptRule

# (pattern, URLs it must match, URLs it must not match)
CHROME_VALID = [
    ("https://*/*", ["https://www.google.com/", "https://example.org/foo/bar.html"], ["http://www.google.com/"]),
    ("http://*/*", ["http://74.125.127.100/search", "http://example.com/"], ["https://example.com/"]),
    ("https://*/foo*", ["https://example.com/foo/bar.html", "https://www.google.com/foo"],
     ["https://example.com/bar/foo", "http://example.com/foo"]),
    ("https://*.google.com/foo*bar", ["https://www.google.com/foo/baz/bar", "https://docs.google.com/foobar"],
     ["https://www.google.com/foo/baz/bar/", "https://google.com.evil.example/foobar", "https://notgoogle.com/foobar"]),
    ("http://127.0.0.1/*", ["http://127.0.0.1/", "http://127.0.0.1/foo/bar.html"], ["http://127.0.0.2/"]),
    ("http://localhost/*", ["http://localhost:3000", "http://localhost:8080"], ["https://localhost:8080/"]),
    ("http://localhost:*/*", ["http://localhost:8080/x", "http://localhost:3000"], ["http://localhostx:3000/"]),
    ("http://*:*/*", ["http://localhost:1/", "http://10.0.0.1:8080/a", "http://example.com/"],
     ["https://example.com/"]),
    ("*://mail.google.com/*", ["http://mail.google.com/foo/baz/bar", "https://mail.google.com/foobar"],
     ["https://google.com/", "https://www.mail.google.com/"]),
]
CHROME_INVALID = ["https://www.google.com", "https://*foo/bar", "https://foo.*.bar/baz", "http:/bar", "foo://*",
                  "chrome://*", "chrome-extension://*", "about:*"]
CHROME_OUTSIDE_GRAMMAR = ["file:///foo*", "urn:*", "ftp://mozilla.org/", "ws://example.org/*"]

FIREFOX_EXAMPLES = [
    ("<all_urls>", ["http://example.org/", "https://a.org/some/path/"],
     ["resource://a/b/c/", "ftps://files.somewhere.org/"]),
    ("*://*/*", ["http://example.org/", "https://a.org/some/path/"], ["ftp://ftp.example.org/", "file:///a/"]),
    ("*://*.mozilla.org/*",
     ["http://mozilla.org/", "https://mozilla.org/", "http://a.mozilla.org/", "http://a.b.mozilla.org/",
      "https://b.mozilla.org/path/"],
     ["ftp://mozilla.org/", "http://mozilla.com/", "http://firefox.org/"]),
    ("*://mozilla.org/", ["http://mozilla.org/", "https://mozilla.org/"],
     ["ftp://mozilla.org/", "http://a.mozilla.org/", "http://mozilla.org/a"]),
    ("https://*/path", ["https://mozilla.org/path", "https://a.mozilla.org/path", "https://something.com/path"],
     ["http://mozilla.org/path", "https://mozilla.org/path/", "https://mozilla.org/a", "https://mozilla.org/",
      "https://mozilla.org/path?foo=1"]),
    ("https://*/path/", ["https://mozilla.org/path/", "https://a.mozilla.org/path/", "https://something.com/path/"],
     ["http://mozilla.org/path/", "https://mozilla.org/path", "https://mozilla.org/a", "https://mozilla.org/",
      "https://mozilla.org/path/?foo=1"]),
    ("https://mozilla.org/*",
     ["https://mozilla.org/", "https://mozilla.org/path", "https://mozilla.org/another",
      "https://mozilla.org/path/to/doc", "https://mozilla.org/path/to/doc?foo=1"],
     ["http://mozilla.org/path", "https://mozilla.com/path"]),
    ("https://mozilla.org/a/b/c/", ["https://mozilla.org/a/b/c/", "https://mozilla.org/a/b/c/#section1"],
     ["https://mozilla.org/a/b/c/d", "https://mozilla.org/a/b/c/?x=1", "https://mozilla.org/a/b/c"]),
    ("https://mozilla.org/*/b/*/",
     ["https://mozilla.org/a/b/c/", "https://mozilla.org/d/b/f/", "https://mozilla.org/a/b/c/d/",
      "https://mozilla.org/a/b/c/d/#section1", "https://mozilla.org/a/b/c/d/?foo=/",
      "https://mozilla.org/a?foo=21314&bar=/b/&extra=c/"],
     ["https://mozilla.org/b/*/", "https://mozilla.org/a/b/", "https://mozilla.org/a/b/c/d/?foo=bar"]),
    # "Invalid or unmatched patterns": valid, but never match what they seem to say
    ("https://www.mozilla.org/#section1", [], ["https://www.mozilla.org/", "https://www.mozilla.org/#section1"]),
    ("https://mozilla.org:80/", ["https://mozilla.org:80/"], ["https://mozilla.org/", "http://mozilla.org/"]),
]
FIREFOX_INVALID = ["resource://path/", "https://mozilla.org", "https://mozilla.*.org/", "https://*zilla.org/",
                   "http*://mozilla.org/", "*://*", "file://*"]

TABLE = [(p, u, True) for p, yes, _ in CHROME_VALID + FIREFOX_EXAMPLES for u in yes] + [
    (p, u, False) for p, _, no in CHROME_VALID + FIREFOX_EXAMPLES for u in no
]


@pytest.mark.parametrize(("pattern", "url", "expected"), TABLE)
def test_documented_examples(pattern: str, url: str, expected: bool) -> None:
    assert MatchPattern(pattern).matches(url) is expected


def normalized(url: str) -> str:
    """scheme://host[:port]/path?query — what a page loader builds from location (origin + pathname + search)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port is not None else ""
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/'}{query}"


@pytest.mark.parametrize(("pattern", "url", "expected"), [t for t in TABLE if t[1].startswith("http")])
def test_to_regex_agrees_with_matches(pattern: str, url: str, expected: bool) -> None:
    assert (re.fullmatch(MatchPattern(pattern).to_regex(), normalized(url)) is not None) is expected


@pytest.mark.parametrize("pattern", CHROME_INVALID + FIREFOX_INVALID + CHROME_OUTSIDE_GRAMMAR)
def test_malformed_patterns_raise_pattern_error_naming_the_pattern(pattern: str) -> None:
    with pytest.raises(PatternError) as info:
        MatchPattern(pattern)
    assert isinstance(info.value, ValueError)
    assert info.value.pattern == pattern
    assert repr(pattern) in str(info.value) and info.value.problem in str(info.value)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("https://www.google.com", "missing path"),
        ("foo://*/", "scheme must be '*', 'http' or 'https', got 'foo'"),
        ("HTTPS://example.com/*", "scheme must be lower case"),
        ("https://foo.*.bar/baz", "'*' in the host"),
        ("https:///*", "missing host"),
        ("https://user@example.com/*", "user info"),
        ("https://example.com:abc/*", "invalid port 'abc'"),
        ("https://example.com:0/*", "out of range"),
        ("https://example.com:70000/*", "out of range"),
        ("https://[::1/*", "unterminated IPv6"),
        ("https://exa mple.com/*", "invalid host"),
        ("https://.example.com/*", "invalid host"),
        ("example.com/*", "missing '://'"),
    ],
)
def test_error_says_what_is_wrong(pattern: str, problem: str) -> None:
    with pytest.raises(PatternError, match=re.escape(problem)):
        MatchPattern(pattern)


def test_public_names() -> None:
    assert aiplugs.MatchPattern is MatchPattern and aiplugs.PatternError is PatternError
    with pytest.raises(ValueError):
        aiplugs.MatchPattern("nope")


@pytest.mark.parametrize(
    ("pattern", "literal_match", "would_match_as_regex"),
    [
        ("*://example.com/a.b", "https://example.com/a.b", "https://example.com/aXb"),
        ("*://example.com/search?q=*", "https://example.com/search?q=cats", "https://example.com/searcq=cats"),
        ("*://example.com/x+", "https://example.com/x+", "https://example.com/xx"),
        ("*://example.com/(a|b)", "https://example.com/(a|b)", "https://example.com/a"),
        ("*://example.com/[ab]$", "https://example.com/[ab]$", "https://example.com/a"),
        ("*://example.com/^x\\d{2}", "https://example.com/^x\\d{2}", "https://example.com/x12"),
    ],
)
def test_regex_metacharacters_are_literal(pattern: str, literal_match: str, would_match_as_regex: str) -> None:
    p = MatchPattern(pattern)
    assert p.matches(literal_match)
    assert not p.matches(would_match_as_regex)


def test_ports() -> None:
    fixed = MatchPattern("https://example.com:8443/*")
    assert fixed.port == 8443
    assert fixed.matches("https://example.com:8443/x")
    assert not fixed.matches("https://example.com/x")
    assert not fixed.matches("https://example.com:9443/x")
    default = MatchPattern("http://example.com:80/*")
    assert default.matches("http://example.com/") and default.matches("http://example.com:80/")
    assert not default.matches("http://example.com:8080/")
    anyport = MatchPattern("*://example.com/*")
    assert anyport.port is None
    assert anyport.matches("https://example.com:1234/") and anyport.matches("http://example.com:80/")
    assert MatchPattern("http://[::1]/*").matches("http://[::1]:8080/x")
    assert MatchPattern("http://[::1]:8080/*").matches("http://[::1]:8080/x")
    assert not MatchPattern("http://[::1]:8080/*").matches("http://[::1]:8081/x")
    v6 = RuleSet([rule("v6", "http://[::1]/*")])
    assert v6.can_match_host("::1") and v6.can_match_host("[::1]")
    assert v6.plugins_for("http://[::1]:5000/") == ("v6",)
    assert MatchPattern("http://[::1]/*").matches_host("::1")


def test_query_strings_are_part_of_the_path_fragments_are_not() -> None:
    p = MatchPattern("*://example.com/*?*lang=en*")
    assert p.matches("https://example.com/page?lang=en")
    assert p.matches("https://example.com/page?x=1&lang=en-GB#top")
    assert not p.matches("https://example.com/page#?lang=en")
    assert not p.matches("https://example.com/page")
    exact = MatchPattern("*://example.com/page")
    assert exact.matches("https://example.com/page#frag")
    assert exact.matches("https://example.com/page?") is True  # an empty query string is no query string


def test_hosts_are_case_insensitive_and_paths_are_not() -> None:
    p = MatchPattern("*://Example.COM/Docs/*")
    assert p.host == "example.com"
    assert p.matches("https://EXAMPLE.com/Docs/x")
    assert p.matches("https://example.com./Docs/x")  # trailing dot of a fully qualified name
    assert not p.matches("https://example.com/docs/x")


def test_host_lookalikes_do_not_match() -> None:
    p = MatchPattern("*://*.example.com/*")
    assert p.matches("https://example.com/") and p.matches("https://a.b.example.com/")
    for url in ["https://notexample.com/", "https://example.com.evil.org/", "https://example.com@evil.org/",
                "https://evil.org/?u=https://a.example.com/", "https://evil.org/example.com/"]:
        assert not p.matches(url), url
    assert MatchPattern("*://example.com/*").matches("https://user:pw@example.com/")


def test_urls_nothing_can_match() -> None:
    p = MatchPattern("<all_urls>")
    for url in ["", "not a url", "mailto:a@example.com", "data:text/html,hi", "javascript:alert(1)",
                "http:///nohost", "https://example.com:99999/", "ws://example.com/"]:
        assert not p.matches(url), url


def test_parsed_parts_and_host_pattern() -> None:
    p = MatchPattern("*://*.example.com/docs/*")
    assert (p.schemes, p.host, p.subdomains, p.port, p.path) == (("http", "https"), "example.com", True, None,
                                                                 "/docs/*")
    assert p.host_pattern() == "*.example.com"
    assert MatchPattern("https://a.example/*").host_pattern() == "a.example"
    assert MatchPattern("<all_urls>").host_pattern() == "*" and MatchPattern("<all_urls>").all_hosts
    assert MatchPattern("https://a.example/*") == MatchPattern("https://a.example/*")
    assert str(p) == "*://*.example.com/docs/*"


# --- rule sets -----------------------------------------------------------------------------------------------------


def rule(plugin: str, *matches: str, exclude: tuple[str, ...] = ()) -> ScriptRule:
    return ScriptRule(plugin, tuple(MatchPattern(m) for m in matches), tuple(MatchPattern(e) for e in exclude))


RULES = RuleSet([
    rule("wiki", "*://*.wikipedia.org/wiki/*"),
    rule("news", "https://news.ycombinator.com/*", exclude=("*://*/*?aiplugs=off*",)),
    rule("local", "http://localhost/*", "http://127.0.0.1/*"),
    rule("everywhere", "<all_urls>", exclude=("*://*.bank.example/*",)),
    rule("wiki", "https://en.wikipedia.org/*"),  # a second content_scripts entry of the same plugin
])


def test_plugins_for_in_rule_order_each_once() -> None:
    assert RULES.plugins_for("https://en.wikipedia.org/wiki/Python") == ("wiki", "everywhere")
    assert RULES.plugins_for("https://en.wikipedia.org/w/index.php") == ("everywhere", "wiki")
    assert RULES.plugins_for("https://news.ycombinator.com/item?id=1") == ("news", "everywhere")
    assert RULES.plugins_for("https://news.ycombinator.com/item?aiplugs=off") == ("everywhere",)
    assert RULES.plugins_for("http://localhost:8000/page") == ("local", "everywhere")
    assert RULES.plugins_for("https://www.bank.example/login") == ()
    assert RULES.plugins_for("ftp://en.wikipedia.org/wiki/x") == ()
    assert len(RULES) == 5


def test_intercept_hosts_and_host_queries() -> None:
    assert RULES.intercept_hosts == ("*", "*.wikipedia.org", "127.0.0.1", "en.wikipedia.org", "localhost",
                                     "news.ycombinator.com")
    narrow = RuleSet([rule("a", "*://*.b.example/*", "https://c.example:8443/x"), rule("b", "*://c.example/*")])
    assert narrow.intercept_hosts == ("*.b.example", "c.example")
    assert narrow.can_match_host("B.example") and narrow.can_match_host("x.y.b.example")
    assert not narrow.can_match_host("b.example.org") and not narrow.can_match_host("example")
    assert [r.plugin_id for r in narrow.rules_for_host("c.example")] == ["a", "b"]
    assert narrow.rules_for_host("nothing.example") == ()
    assert RuleSet([]).intercept_hosts == () and RuleSet([]).plugins_for("https://a.example/") == ()
    assert narrow.host_indices("c.example") == (0, 1) and narrow.host_indices("x.b.example") == (0,)
    assert narrow.indices_for("https://c.example:8443/x") == (0, 1)
    assert narrow.indices_for("https://c.example/y") == (1,)
    assert narrow.indices_for("ftp://c.example/y") == () and narrow.indices_for("https://nothing.example/") == ()


HOSTS = ["a.example", "b.a.example", "c.example", "a.example.org", "localhost"]
PATTERNS = ["<all_urls>", "*://*/*", "*://*.a.example/*", "https://a.example/x*", "http://c.example:8080/*",
            "*://localhost/*?q=*", "https://*/x/*", "*://c.example/*.js"]


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(
        st.tuples(st.sampled_from("pqrs"), st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3),
                  st.lists(st.sampled_from(PATTERNS), max_size=1)),
        max_size=6,
    ),
    scheme=st.sampled_from(["http", "https"]),
    host=st.sampled_from(HOSTS),
    port=st.sampled_from(["", ":8080", ":443"]),
    path=st.sampled_from(["/", "/x/y", "/x", "/a.js?q=1", "/?q=2"]),
)
def test_rule_set_agrees_with_checking_every_rule(rules, scheme, host, port, path) -> None:  # type: ignore[no-untyped-def]
    script_rules = [rule(pid, *m, exclude=tuple(e)) for pid, m, e in rules]
    url = f"{scheme}://{host}{port}{path}"
    expected = tuple(dict.fromkeys(r.plugin_id for r in script_rules if r.applies(url)))
    assert RuleSet(script_rules).plugins_for(url) == expected
