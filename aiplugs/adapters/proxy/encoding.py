"""Content-Encoding for the pages we splice: decode the raw body, re-encode it the same way afterwards.

Only single, known codings are handled. Stacked codings (``gzip, br``) or unknown ones make the caller leave the
page alone, which is always safe. Re-encoding uses fast settings on purpose: the proxy talks to a browser over
loopback, where compression costs time and buys nothing: re-encoding writes stored blocks (see ``encode``).
"""

from __future__ import annotations

import zlib
from typing import Literal

__all__ = ["Coding", "MAX_DECODED_BYTES", "decode", "encode", "parse_coding"]

Coding = Literal["identity", "gzip", "deflate", "br", "zstd"]
_CODINGS: dict[str, Coding] = {"": "identity", "identity": "identity", "gzip": "gzip", "x-gzip": "gzip",
                               "deflate": "deflate", "br": "br", "zstd": "zstd"}

# A decompression bomb must not take the proxy down: pages bigger than this once decoded are not injected.
MAX_DECODED_BYTES = 64 * 1024 * 1024


class DecodeError(ValueError):
    """The body does not decode with its declared coding (or decodes past the size cap)."""


def parse_coding(header: str | None) -> Coding | None:
    """The single coding a ``Content-Encoding`` value names; None when stacked or unknown."""
    value = (header or "").strip().lower()
    if "," in value:
        parts = [p.strip() for p in value.split(",") if p.strip() not in ("", "identity")]
        if len(parts) > 1:
            return None
        value = parts[0] if parts else ""
    return _CODINGS.get(value)


def decode(data: bytes, coding: Coding, limit: int = MAX_DECODED_BYTES) -> bytes:
    try:
        if coding == "identity":
            return data
        if coding == "gzip":
            return _zlib_decode(data, 16 + zlib.MAX_WBITS, limit)
        if coding == "deflate":
            try:  # RFC 9110 "deflate" is zlib-wrapped; some servers send a raw deflate stream
                return _zlib_decode(data, zlib.MAX_WBITS, limit)
            except zlib.error:
                return _zlib_decode(data, -zlib.MAX_WBITS, limit)
        if coding == "br":
            import brotli

            out = brotli.decompress(data)
        else:
            import zstandard

            chunks, size = [], 0
            with zstandard.ZstdDecompressor().stream_reader(data) as reader:
                while size <= limit and (chunk := reader.read(1 << 20)):
                    chunks.append(chunk)
                    size += len(chunk)
            out = b"".join(chunks)
    except DecodeError:
        raise
    except Exception as e:  # zlib.error, brotli.error, zstandard.ZstdError
        raise DecodeError(f"cannot decode {coding} body: {e}") from e
    if len(out) > limit:
        raise DecodeError(f"{coding} body decodes to more than {limit} bytes")
    return out


def _zlib_decode(data: bytes, wbits: int, limit: int) -> bytes:
    d = zlib.decompressobj(wbits)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise DecodeError(f"body decodes to more than {limit} bytes")
    if not d.eof:
        raise zlib.error("truncated stream")
    return out


def encode(data: bytes, coding: Coding) -> bytes:
    """``data`` in ``coding``, as *stored* (uncompressed) blocks of that format.

    Every format we splice has a stored-block form (deflate stored blocks, brotli uncompressed meta-blocks, zstd
    raw blocks), so the body stays valid for its unchanged ``Content-Encoding`` while costing a copy and a
    checksum instead of a compression pass: compressing a 1 MB page takes tens of milliseconds, and on the loopback
    hop between proxy and browser the bytes it would save cost far less than that.
    """
    if coding == "identity":
        return data
    if coding == "gzip":
        c = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if coding == "deflate":
        return zlib.compress(data, 0)
    if coding == "br":
        return _brotli_stored(data)
    return _zstd_raw(data)


_BR_CHUNK = 1 << 20  # MLEN - 1 = 0xFFFFF: five nibbles, the top one non-zero as the format requires


def _brotli_stored(data: bytes) -> bytes:
    """RFC 7932: WBITS=16 (a single 0 bit), uncompressed meta-blocks, then an empty last meta-block."""
    out = bytearray()
    acc, nbits = 0, 1  # the WBITS bit (0) is already "written"
    for start in range(0, len(data), _BR_CHUNK):
        chunk = data[start:start + _BR_CHUNK]
        mlen1 = len(chunk) - 1
        nibbles = 4 if mlen1 < 1 << 16 else 5 if mlen1 < 1 << 20 else 6
        # ISLAST=0, MNIBBLES (nibbles - 4), MLEN-1, ISUNCOMPRESSED=1, little-endian bit order
        for value, width in ((0, 1), (nibbles - 4, 2), (mlen1, nibbles * 4), (1, 1)):
            acc |= value << nbits
            nbits += width
        nbytes = (nbits + 7) // 8  # pad to a byte boundary with zero bits
        out += acc.to_bytes(nbytes, "little")
        out += chunk
        acc, nbits = 0, 0
    acc |= 0b11 << nbits  # ISLAST=1, ISLASTEMPTY=1
    nbits += 2
    out += acc.to_bytes((nbits + 7) // 8, "little")
    return bytes(out)


_ZSTD_BLOCK = 1 << 17  # 128 KiB, the largest block; needs a window of at least that (Window_Log 17)


def _zstd_raw(data: bytes) -> bytes:
    """RFC 8878: a frame header (no content size, no checksum, Window_Log 17) and raw blocks."""
    out = bytearray(b"\x28\xb5\x2f\xfd\x00" + bytes([(17 - 10) << 3]))
    view = memoryview(data)
    starts = range(0, len(data), _ZSTD_BLOCK) if data else [0]
    for start in starts:
        block = view[start:start + _ZSTD_BLOCK]
        last = start + _ZSTD_BLOCK >= len(data)
        out += (int(last) | (len(block) << 3)).to_bytes(3, "little")  # Block_Type 0 = Raw
        out += block
    return bytes(out)
