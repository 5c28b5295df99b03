"""Content-Encoding round trips (plain bytes)."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from aiplugs.proxy.encoding import DecodeError, decode, encode, parse_coding

DATA = b"<html>" + "données ".encode() * 5000


@pytest.mark.parametrize("coding", ["identity", "gzip", "deflate", "br", "zstd"])
def test_round_trip(coding: str) -> None:
    assert decode(encode(DATA, coding), coding) == DATA  # type: ignore[arg-type]


@pytest.mark.parametrize("coding, data", [
    ("gzip", gzip.compress(DATA)),
    ("deflate", zlib.compress(DATA)),
    ("deflate", "raw"),
    ("br", brotli.compress(DATA)),
    ("zstd", zstandard.ZstdCompressor().compress(DATA)),
])
def test_decodes_what_servers_send(coding: str, data: bytes | str) -> None:
    if data == "raw":  # a raw deflate stream, as some servers send for "deflate"
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(DATA) + c.flush()
    assert decode(data, coding) == DATA  # type: ignore[arg-type]


def test_truncated_and_bomb_bodies_raise() -> None:
    with pytest.raises(DecodeError):
        decode(gzip.compress(DATA)[:-20], "gzip")
    with pytest.raises(DecodeError, match="more than"):
        decode(gzip.compress(b"\0" * 100_000), "gzip", limit=1000)
    with pytest.raises(DecodeError):
        decode(b"not brotli at all", "br")


@pytest.mark.parametrize("header, expected", [
    (None, "identity"), ("", "identity"), ("GZIP", "gzip"), ("x-gzip", "gzip"), ("br", "br"), ("zstd", "zstd"),
    ("gzip, identity", "gzip"), ("gzip, br", None), ("compress", None), ("identity", "identity"),
])
def test_parse_coding(header: str | None, expected: str | None) -> None:
    assert parse_coding(header) == expected
