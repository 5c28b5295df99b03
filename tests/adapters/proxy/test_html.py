"""The insertion point and byte edits, on many document shapes (plain values, no proxy)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplugs.adapters.proxy.html import Edit, apply_edits, attr_value_edit, meta_csp_content, scan_head

from .test_fuzz import PIECES as _FUZZ_PIECES

S = b"<script>X</script>"


def splice(body: bytes) -> bytes | None:
    at = scan_head(body).insert_at
    return None if at is None else body[:at] + S + body[at:]


@pytest.mark.parametrize("body, expected", [
    # full document: before the first script, after meta charset
    (b"<!DOCTYPE html><html><head><meta charset=utf-8><title>t</title><script>a()</script></head><body>x",
     b"<!DOCTYPE html><html><head><meta charset=utf-8><title>t</title>" + S + b"<script>a()</script></head><body>x"),
    # no script in head: start of body
    (b"<!doctype html><html><head><title>t</title></head><body class=a><p>x",
     b"<!doctype html><html><head><title>t</title></head><body class=a>" + S + b"<p>x"),
    # no head
    (b"<!doctype html><body><p>x</p></body>", b"<!doctype html><body>" + S + b"<p>x</p></body>"),
    # no head, no body: a fragment gets it at the start of its content
    (b"<p>hello</p>", S + b"<p>hello</p>"),
    (b"  hello <b>world</b>", b"  " + S + b"hello <b>world</b>"),
    # neither head nor body tags, but head elements
    (b"<!doctype html><title>t</title><p>x", b"<!doctype html><title>t</title>" + S + b"<p>x"),
    # comments: never inside, even when they look like markup
    (b"<!-- <script>no</script> <body> --><html><head><script>a</script>",
     b"<!-- <script>no</script> <body> --><html><head>" + S + b"<script>a</script>"),
    (b"<!doctype html><!--x--><body>y", b"<!doctype html><!--x--><body>" + S + b"y"),
    (b"<!--><body>y", b"<!--><body>" + S + b"y"),
    # BOM stays first, doctype stays before us
    (b"\xef\xbb\xbf<!DOCTYPE html><p>x", b"\xef\xbb\xbf<!DOCTYPE html>" + S + b"<p>x"),
    (b"\xef\xbb\xbfhello", b"\xef\xbb\xbf" + S + b"hello"),
    # uppercase tags
    (b"<HTML><HEAD><META CHARSET=UTF-8><SCRIPT SRC=a.js></SCRIPT></HEAD><BODY>",
     b"<HTML><HEAD><META CHARSET=UTF-8>" + S + b"<SCRIPT SRC=a.js></SCRIPT></HEAD><BODY>"),
    # noscript / template / style / title text is skipped as a whole
    (b"<head><noscript><script>n</script><body></noscript><script>s</script>",
     b"<head><noscript><script>n</script><body></noscript>" + S + b"<script>s</script>"),
    (b"<head><template><script>t</script></template><body>", b"<head><template><script>t</script></template><body>" + S),
    (b"<head><style>a::after{content:'<script>'}</style><title><body></title><body>z",
     b"<head><style>a::after{content:'<script>'}</style><title><body></title><body>" + S + b"z"),
    # attribute values containing ">" and "<script"
    (b'<head><meta name=x content="a>b<script>"><script>s</script>',
     b'<head><meta name=x content="a>b<script>">' + S + b"<script>s</script>"),
    # meta charset after a first script: we go after the meta charset, never before it
    (b"<head><script>s</script><meta charset=shift_jis><title>t</title><body>",
     b"<head><script>s</script><meta charset=shift_jis>" + S + b"<title>t</title><body>"),
    (b'<head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr"><body>',
     b'<head><meta http-equiv="Content-Type" content="text/html; charset=euc-kr"><body>' + S),
    # XHTML prolog
    (b'<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body/>',
     b'<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body/>' + S),
    # empty and whitespace-only documents
    (b"", S),
    (b"<!doctype html>", b"<!doctype html>" + S),
])
def test_splice_table(body: bytes, expected: bytes) -> None:
    assert splice(body) == expected


@pytest.mark.parametrize("body, reason", [
    (b"<!-- never closed <body>", "unterminated comment"),
    (b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00", "utf-16 or binary"),
    (b"\xfe\xff\x00<\x00h", "utf-16 or binary"),
    (b"<head><title>\x1b$B$3$s\x1b(B</title><body>", "stateful encoding"),
])
def test_no_safe_point_leaves_page_alone(body: bytes, reason: str) -> None:
    scan = scan_head(body)
    assert scan.insert_at is None and scan.reason == reason


def test_xhtml_fragment_without_root_is_left_alone() -> None:
    assert scan_head(b"<p>x</p>", xml=True).insert_at is None
    assert scan_head(b"<html><head></head><body>", xml=True).insert_at is not None


def test_meta_charset_past_1024_bytes_still_precedes_snippet() -> None:
    filler = b"<meta name=filler content=" + b"a" * 1100 + b">"
    body = b"<!doctype html><head><script>s()</script>" + filler + b"<meta charset=euc-kr><body>"
    out = splice(body)
    assert out is not None and out.index(b"<meta charset=euc-kr>") < out.index(S)


def test_meta_charset_within_first_1024_bytes_stays_there() -> None:
    body = b"<!doctype html><html><head><meta charset=shift_jis><script>s</script>" + b"<p>" + b"x" * 5000
    out = splice(body)
    assert out is not None and out.index(b"<meta charset=shift_jis>") < 1024


@pytest.mark.parametrize("charset, text", [("euc-kr", "한국어 페이지입니다 <안녕>"), ("shift_jis", "日本語のページです「テスト」"),
                                           ("gb18030", "中文页面"), ("big5", "繁體中文頁面")])
def test_legacy_encodings_are_byte_identical(charset: str, text: str) -> None:
    encoded = text.encode(charset)
    body = (b'<!doctype html><html><head><meta charset="' + charset.encode() + b'"><title>'
            + encoded + b"</title></head><body><p>" + encoded * 50 + b"</p></body></html>")
    out = splice(body)
    assert out is not None
    at = out.index(S)
    assert out[:at] + out[at + len(S):] == body
    assert out.decode(charset).count(text) == 51


def test_huge_page_is_scanned_only_up_to_the_decision() -> None:
    body = b"<!doctype html><html><head><title>big</title></head><body>" + b"<div>" * 2_000_000
    scan = scan_head(body)
    assert scan.insert_at == body.index(b"<body>") + 6


def test_unterminated_script_in_head() -> None:
    body = b"<head><script>never ends"
    assert splice(body) == b"<head>" + S + b"<script>never ends"


def test_meta_csp_tags_are_reported_with_their_content() -> None:
    body = (b"<head><meta http-equiv=\"Content-Security-Policy\" content=\"script-src &#39;self&#39;\">"
            b"<meta http-equiv=content-security-policy content='default-src https:'><body>"
            b"<meta http-equiv=Content-Security-Policy content=ignored-in-body>")
    scan = scan_head(body)
    assert [meta_csp_content(t) for t in scan.meta_csp] == ["script-src 'self'", "default-src https:"]


def test_attr_value_edit_escapes_and_quotes() -> None:
    body = b"<head><meta http-equiv=Content-Security-Policy content=x><meta http-equiv=content-security-policy content='y'>"
    a, b = scan_head(body).meta_csp
    out = apply_edits(body, [attr_value_edit(a, "content", "script-src 'nonce-1' \"q\" &"),
                             attr_value_edit(b, "content", "it's")])
    assert out == (b"<head><meta http-equiv=Content-Security-Policy content=\"script-src 'nonce-1' &quot;q&quot; &amp;\">"
                   b"<meta http-equiv=content-security-policy content='it&#39;s'>")


def test_apply_edits_orders_insertions_and_rejects_overlap() -> None:
    assert apply_edits(b"abcdef", [Edit(2, 4, b"X"), Edit(2, 2, b"I"), Edit(6, 6, b"!")]) == b"abIXef!"
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(b"abcdef", [Edit(1, 4, b""), Edit(2, 3, b"")])


@settings(max_examples=400, deadline=None)
@given(doc=st.lists(st.sampled_from(_FUZZ_PIECES), max_size=40).map(b"".join), cut=st.integers(0, 600))
def test_scan_of_a_prefix_is_final_or_asks_for_more(doc: bytes, cut: int) -> None:
    """What a page still arriving is scanned for (streaming) must never differ from the whole page's answer."""
    prefix = scan_head(doc[:cut], complete=False)
    if not prefix.more:
        assert prefix == scan_head(doc)
