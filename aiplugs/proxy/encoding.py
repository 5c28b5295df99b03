"""Content-Encoding for the pages we splice: decode the raw body, re-encode it the same way afterwards.

Only single, known codings are handled. Stacked codings (``gzip, br``) or unknown ones make the caller leave the
page alone, which is always safe. Re-encoding uses fast settings on purpose: the proxy talks to a browser over
loopback, where compression ratio costs time and buys nothing.
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
    if coding == "identity":
        return data
    if coding == "gzip":
        c = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if coding == "deflate":
        return zlib.compress(data, 1)
    if coding == "br":
        import brotli

        return brotli.compress(data, quality=1)
    import zstandard

    return zstandard.ZstdCompressor(level=1).compress(data)
