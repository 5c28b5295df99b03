"""Content-Encoding round trips (plain bytes)."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from aiplugs.adapters.proxy.encoding import DecodeError, decode, encode, parse_coding

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


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, (1 << 17) + 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1,
                                  3 * (1 << 20) + 7])
def test_stored_encodings_decode_with_the_reference_decoders(size: int) -> None:
    data = bytes(i * 7 % 251 for i in range(size))
    assert gzip.decompress(encode(data, "gzip")) == data
    assert zlib.decompress(encode(data, "deflate")) == data
    assert brotli.decompress(encode(data, "br")) == data
    assert zstandard.ZstdDecompressor().decompressobj().decompress(encode(data, "zstd")) == data


def test_stored_encoding_costs_only_framing_bytes() -> None:
    data = b"a" * 1_000_000  # would compress to almost nothing; stored blocks keep it whole on purpose
    for coding in ("gzip", "deflate", "br", "zstd"):
        assert len(data) < len(encode(data, coding)) < len(data) + 200  # type: ignore[arg-type]
