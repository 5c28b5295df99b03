"""CSP amendment per policy shape (plain strings)."""

from __future__ import annotations

import pytest

from aiplugs.adapters.proxy.csp import amend_header, amend_policy, parse_policy

ORIGIN = "https://site.test"
P = "https://site.test/__aiplugs__/"
W = "wss://site.test/__aiplugs__/"  # Chromium does not match wss:// URLs against an https:// host-source


def amend(text: str) -> str:
    return amend_header(text, nonce="N", origin=ORIGIN).text


@pytest.mark.parametrize("policy, expected", [
    # strict nonce policy with strict-dynamic: our nonce joins the list
    ("script-src 'nonce-abc' 'strict-dynamic'; object-src 'none'",
     "script-src 'nonce-abc' 'strict-dynamic' 'nonce-N'; object-src 'none'"),
    # script-src-elem governs <script> elements over script-src
    ("script-src 'self'; script-src-elem 'self' https://cdn.test",
     "script-src 'self'; script-src-elem 'self' https://cdn.test 'nonce-N'"),
    # only default-src: a script-src copy gets the nonce; default-src and other types unchanged
    ("default-src 'self'", "default-src 'self'; script-src 'self' 'nonce-N'"),
    ("default-src 'none'",
     "default-src 'none'; script-src 'nonce-N'; connect-src " + P + " " + W + "; style-src " + P),
    # 'unsafe-inline' without nonce/hash: adding a nonce (or hash) would disable it, so only the asset path
    ("script-src https://cdn.test 'unsafe-inline'", "script-src https://cdn.test 'unsafe-inline' " + P),
    ("script-src 'self' 'unsafe-inline'", "script-src 'self' 'unsafe-inline'"),
    # 'unsafe-inline' already ignored because of a hash or strict-dynamic: nonce is safe to add
    ("script-src 'unsafe-inline' 'sha256-abc='", "script-src 'unsafe-inline' 'sha256-abc=' 'nonce-N'"),
    ("script-src 'unsafe-inline' 'strict-dynamic' 'nonce-x'",
     "script-src 'unsafe-inline' 'strict-dynamic' 'nonce-x' 'nonce-N'"),
    # 'none' would make the list ignore our source
    ("script-src 'none'", "script-src 'nonce-N'"),
    # connect-src without 'self' gets the same-origin API path, for fetch and for the WebSocket
    ("connect-src https://api.test", "connect-src https://api.test " + P + " " + W),
    ("connect-src 'self'", "connect-src 'self'"),
    ("connect-src *", "connect-src *"),
    # styles: the asset path for plugin css
    ("style-src https://cdn.test 'unsafe-inline'", "style-src https://cdn.test 'unsafe-inline' " + P),
    # no script restriction at all: nothing to do
    ("img-src 'self'; frame-ancestors 'none'", "img-src 'self'; frame-ancestors 'none'"),
    # Trusted Types: our policy name joins the allow list; 'none' is replaced
    ("require-trusted-types-for 'script'; trusted-types app", "require-trusted-types-for 'script'; trusted-types app aiplugs"),
    ("trusted-types 'none'", "trusted-types aiplugs"),
    ("trusted-types *", "trusted-types *"),
])
def test_amend_policy_shapes(policy: str, expected: str) -> None:
    assert amend(policy) == expected


def test_unchanged_policy_text_is_returned_verbatim() -> None:
    text = "img-src   'self' ;  frame-ancestors 'none'"
    result = amend_header(text, nonce="N", origin=ORIGIN)
    assert result.text == text and not result.changed


def test_comma_separated_policies_are_each_amended() -> None:
    result = amend_header("script-src 'self', default-src https:", nonce="N", origin=ORIGIN)
    assert result.text == "script-src 'self' 'nonce-N', default-src https:; script-src https: 'nonce-N'; " \
                          "connect-src https: " + P + " " + W + "; style-src https: " + P
    assert result.changed


def test_trusted_types_flag() -> None:
    assert amend_header("require-trusted-types-for 'script'", nonce="N", origin=ORIGIN).trusted_types
    assert not amend_header("script-src 'self'", nonce="N", origin=ORIGIN).trusted_types


def test_duplicate_directive_only_first_counts() -> None:
    policy = parse_policy("script-src 'self'; script-src 'none'")
    amended, _ = amend_policy(policy, nonce="N", origin=ORIGIN)
    assert str(amended) == "script-src 'self' 'nonce-N'; script-src 'none'"


def test_directive_names_are_case_insensitive() -> None:
    assert amend("Script-Src 'self'") == "script-src 'self' 'nonce-N'"
