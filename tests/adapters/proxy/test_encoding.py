"""Content-Encoding round trips (plain bytes)."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from aiplugs.adapters.proxy.encoding import DecodeError, Decoder, StoredEncoder, decode, encode, parse_coding

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


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("coding", ["identity", "gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_decoder_fed_in_pieces_gives_the_whole_body(coding: str, piece: int) -> None:
    body = {"identity": DATA, "gzip": gzip.compress(DATA), "deflate": zlib.compress(DATA),
            "br": brotli.compress(DATA), "zstd": zstandard.ZstdCompressor().compress(DATA)}[coding]
    decoder = Decoder(coding)  # type: ignore[arg-type]
    out = b"".join(decoder.feed(p) for p in _pieces(body, piece)) + decoder.finish()
    assert out == DATA


def test_raw_deflate_fed_a_byte_at_a_time() -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = c.compress(DATA) + c.flush()
    decoder = Decoder("deflate")
    assert b"".join(decoder.feed(raw[i:i + 1]) for i in range(len(raw))) + decoder.finish() == DATA


@pytest.mark.parametrize("coding, body", [
    ("gzip", gzip.compress(DATA)[:-20]), ("deflate", zlib.compress(DATA)[:100]),
    ("br", brotli.compress(DATA)[:-3]), ("zstd", zstandard.ZstdCompressor().compress(DATA)[:-5]),
])
def test_decoder_finish_refuses_a_stream_that_stopped_short(coding: str, body: bytes) -> None:
    decoder = Decoder(coding)  # type: ignore[arg-type]
    for p in _pieces(body, 1000):
        decoder.feed(p)
    with pytest.raises(DecodeError, match="truncated"):
        decoder.finish()


@pytest.mark.parametrize("coding, body, at", [("gzip", gzip.compress(DATA), -6), ("deflate", zlib.compress(DATA), -1)])
def test_decoder_checks_the_stream_checksum(coding: str, body: bytes, at: int) -> None:
    corrupt = bytearray(body)
    corrupt[at] ^= 1  # CRC-32 (gzip) or Adler-32 (zlib): the body inflates, the check does not match
    with pytest.raises(DecodeError, match="checksum"):
        decode(bytes(corrupt), coding)  # type: ignore[arg-type]


def test_decoder_limit_counts_across_pieces() -> None:
    decoder = Decoder("gzip", limit=50_000)
    body = gzip.compress(b"\0" * 100_000)
    with pytest.raises(DecodeError, match="more than 50000"):
        for p in _pieces(body, 10):
            decoder.feed(p)


@pytest.mark.parametrize("writes", [[], [b""], [b"a"], [b"<html>", b"", b"x" * 200_000, b"end"],
                                    [bytes(range(256)) * 9000, b"tail"]])
def test_stored_encoder_writes_pieces_that_decode_as_they_arrive(writes: list[bytes]) -> None:
    whole = b"".join(writes)
    for coding, reference in (("gzip", gzip.decompress), ("deflate", zlib.decompress), ("br", brotli.decompress),
                              ("zstd", lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b))):
        encoder = StoredEncoder(coding)  # type: ignore[arg-type]
        parts = [encoder.write(w) for w in writes]
        assert reference(b"".join(parts) + encoder.finish()) == whole, coding
        if coding != "identity" and writes and writes[0]:  # nothing held back: the prefix decodes
            streaming = Decoder(coding)  # type: ignore[arg-type]
            assert streaming.feed(parts[0]) == writes[0], coding
