"""Splice: a page's body spliced as it streams. Whatever pieces the body arrives in, the page that comes out is the
one the whole body would give; nothing goes out before the decision, everything as it comes after it."""

from __future__ import annotations

import gzip
import os
import zlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiplugs.adapters.proxy.encoding import decode, encode
from aiplugs.adapters.proxy.html import scan_head
from aiplugs.adapters.proxy.splice import Splice

from .test_fuzz import PIECES

SNIP = b"<script>SNIP</script>"


def snippet(nonce: str | None, trusted_types: bool) -> bytes:
    return SNIP


def run(raw: bytes, cuts: list[int], coding: str = "identity", **kwargs) -> tuple[bytes, Splice]:
    """``raw`` through a Splice, cut at ``cuts``; what the client receives."""
    splice = Splice(coding, snippet=snippet, **kwargs)  # type: ignore[arg-type]
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(raw)}), len(raw)]
    out = [chunk for a, b in zip(bounds, bounds[1:]) if raw[a:b] for chunk in splice(raw[a:b])]
    out += splice(b"")
    assert all(out)
    return b"".join(out), splice


documents = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=documents, cuts=st.lists(st.integers(0, 2000), max_size=8), coding=st.sampled_from(["identity", "gzip"]))
def test_pieces_never_change_the_page(body: bytes, cuts: list[int], coding: str) -> None:
    raw = encode(body, coding) if coding == "identity" else gzip.compress(body)  # type: ignore[arg-type]
    out, splice = run(raw, cuts, coding)
    expected = scan_head(body)
    if expected.insert_at is None:
        assert out == raw and not splice.injected  # the origin's bytes, as they came
        return
    at = expected.insert_at
    assert decode(out, coding) == body[:at] + SNIP + body[at:]  # type: ignore[arg-type]
    assert splice.injected and splice.reason == expected.reason


def test_nothing_goes_out_before_the_decision_and_each_piece_after_it() -> None:
    head = b"<!doctype html><html><head><title>t</title><link rel=stylesheet href=a.css>"
    splice = Splice("identity", snippet=snippet)
    assert splice(head) == []  # the prologue is not over: the loader's place is not known yet
    assert splice(b"<script>app()") == []  # a meta charset after the script would still move it
    assert splice(b"</script><body>hello") == [head + SNIP + b"<script>app()</script><body>hello"]
    assert splice(b" world") == [b" world"]
    assert splice(b"") == [] and splice.reason == "before first script"


def test_a_prologue_past_the_limit_passes_untouched() -> None:
    page = b"<html><head><style>" + b"a{}" * 1000 + b"</style><body>x"
    out, splice = run(page, [100, 1500, 2500], max_head=2000)
    assert out == page and not splice.injected and "prologue longer than 2000" in splice.reason


def test_a_body_that_does_not_decode_before_the_decision_passes_untouched() -> None:
    raw = b"\x1f\x8b\x08\x00garbage that is no deflate stream at all"
    out, splice = run(raw, [3, 10], "gzip")
    assert out == raw and splice.error is not None and not splice.injected


def test_a_body_that_stops_decoding_after_the_decision_ends_as_a_whole_stream() -> None:
    page = b"<html><head><script>x()</script><body>" + os.urandom(20_000).hex().encode()
    raw = gzip.compress(page)
    corrupt = raw[:20_000] + b"\xff" * 50 + raw[20_050:]
    out, splice = run(corrupt, [100, 10_000, 30_000], "gzip")
    decoded = gzip.decompress(out)  # valid: ends where the decodable part ended
    assert decoded.startswith(b"<html><head>" + SNIP) and splice.error is not None and splice.injected


def test_an_empty_page_gets_the_loader_as_the_whole_body_would() -> None:
    out, splice = run(b"", [])
    assert out == SNIP and splice.reason == "end of document"


def test_the_decode_cap_is_per_piece_after_the_decision_so_a_long_page_passes_whole() -> None:
    page = b"<html><head><script>x()</script><body>" + os.urandom(25_000).hex().encode()
    raw = gzip.compress(page)
    out, splice = run(raw, list(range(0, len(raw), 97)), "gzip", piece_limit=20_000)  # 50 KB page, 20 KB cap
    assert gzip.decompress(out) == page.replace(b"<script>x()", SNIP + b"<script>x()") and splice.error is None


def test_a_piece_that_decodes_past_the_cap_ends_the_page_there() -> None:
    head = b"<html><head><script>x()</script><body>" + b"a" * 100
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    first = c.compress(head) + c.flush(zlib.Z_SYNC_FLUSH)  # the head, whole, in the first piece
    raw = first + c.compress(b"\0" * 200_000) + c.flush()
    out, splice = run(raw, [len(first)], "gzip", piece_limit=50_000)
    assert splice.injected and "more than" in str(splice.error)
    assert len(gzip.decompress(out)) < 60_000  # a valid stream, cut where the bomb began
