"""Content-Encoding for the pages we splice: decode the body as it arrives, re-encode it the same way as it goes.

Only single, known codings are handled. Stacked codings (``gzip, br``) or unknown ones make the caller leave the
page alone, which is always safe. Re-encoding uses fast settings on purpose: the proxy talks to a browser over
loopback, where compression costs time and buys nothing: re-encoding writes stored blocks (``StoredEncoder``).

gzip and deflate inflate with ISA-L (``isal``, the zlib API over Intel's igzip): about three times zlib's speed
on HTML (a 1 MB page: ~1.1 ms against ~3.3), and its CRC-32 about ten times. The proxy has to inflate every
compressed page it splices, where a proxy that injects nothing passes the compressed bytes on (``bench_injection``).
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from isal import isal_zlib

__all__ = ["Coding", "DecodeError", "Decoder", "MAX_DECODED_BYTES", "StoredEncoder", "decode", "encode", "parse_coding"]

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
    """The whole body ``data`` decoded; DecodeError when it does not decode or decodes past ``limit`` bytes."""
    decoder = Decoder(coding, limit)
    return decoder.feed(data) + decoder.finish()


class Decoder:
    """Decodes a body as it arrives: ``feed`` each piece, then ``finish`` (which raises DecodeError when the
    stream stopped short). Everything past ``limit`` decoded bytes raises DecodeError too (a decompression bomb
    must not take the proxy down). Data after the end of the (first) compressed stream is ignored, as browsers do.
    """

    def __init__(self, coding: Coding, limit: int = MAX_DECODED_BYTES) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self._cap = limit
        self._pending = b""  # deflate: the first bytes, until the zlib header can be told apart from raw deflate
        self._d: Any = None
        if coding == "gzip":
            self._d = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        elif coding == "br":
            import brotli

            self._d = brotli.Decompressor()
        elif coding == "zstd":
            import zstandard

            self._d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._decode(data)
        except DecodeError:
            raise
        except Exception as e:  # isal_zlib.error, brotli.error, zstandard.ZstdError
            raise DecodeError(f"cannot decode {self.coding} body: {e}") from e
        self.size += len(out)
        if self.size > self.limit:
            raise DecodeError(f"{self.coding} body decodes to more than {self.limit} bytes")
        return out

    def renew_limit(self) -> None:
        """Counts the limit from here on (a caller that keeps nothing it decoded caps each piece, not the body)."""
        self.limit = self.size + self._cap

    def finish(self) -> bytes:
        out = self.feed(b"") if self._pending else b""
        if self.coding == "identity":
            return out
        if self.coding == "br":
            done = self._d is not None and self._d.is_finished()
        else:
            done = self._d is not None and self._d.eof
        if not done:
            raise DecodeError(f"cannot decode {self.coding} body: truncated stream")
        return out

    def _decode(self, data: bytes) -> bytes:
        coding, d = self.coding, self._d
        if coding == "identity":
            return data
        if coding == "deflate" and d is None:
            data = self._pending + data
            if len(data) < 2 and data:
                self._pending = data
                return b""
            self._pending = b""
            # RFC 9110 "deflate" is zlib-wrapped; some servers send a raw deflate stream (told apart by the header)
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            d = self._d = isal_zlib.decompressobj(isal_zlib.MAX_WBITS if wrapped else -isal_zlib.MAX_WBITS)
        if coding in ("gzip", "deflate"):
            if d.eof:
                return b""
            out = d.decompress(data, self.limit + 1 - self.size)
            if d.unconsumed_tail:
                raise DecodeError(f"{coding} body decodes to more than {self.limit} bytes")
            return out
        if coding == "br":
            return d.process(data) if data else b""
        return d.decompress(data) if data and not d.eof else b""


def encode(data: bytes, coding: Coding) -> bytes:
    """``data`` in ``coding``, as *stored* (uncompressed) blocks of that format; see ``StoredEncoder``."""
    encoder = StoredEncoder(coding)
    return encoder.write(data) + encoder.finish()


class StoredEncoder:
    """Encodes a body as it goes, in *stored* (uncompressed) blocks of its format: ``write`` each piece (what it
    returns is ready to send, nothing is held back), then ``finish``.

    Every format we splice has a stored-block form (deflate stored blocks, brotli uncompressed meta-blocks, zstd
    raw blocks), so the body stays valid for its unchanged ``Content-Encoding`` while costing a copy and a
    checksum instead of a compression pass: compressing a 1 MB page takes tens of milliseconds, and on the loopback
    hop between proxy and browser the bytes it would save cost far less than that. The deflate formats are
    written here rather than by ``zlib.compressobj(0)``, which takes ~1 ms per MB to do the same (its CRC-32 and
    copies), and each piece ends on a block boundary, so it decodes as soon as it arrives (no sync flush needed).
    """

    def __init__(self, coding: Coding) -> None:
        self.coding = coding
        self._started = False
        self._size = 0  # gzip: ISIZE
        self._check = 1 if coding == "deflate" else 0  # Adler-32 (zlib) or CRC-32 (gzip) of what was written

    def write(self, data: bytes) -> bytes:
        if not data or self.coding == "identity":
            return data
        first, self._started = not self._started, True
        if self.coding == "gzip":
            self._check = isal_zlib.crc32(data, self._check)
            self._size += len(data)
            return (_GZIP_HEADER if first else b"") + _deflate_stored_blocks(data)
        if self.coding == "deflate":
            self._check = isal_zlib.adler32(data, self._check)
            return (_ZLIB_HEADER if first else b"") + _deflate_stored_blocks(data)
        if self.coding == "br":
            return _brotli_meta_blocks(data, first)
        return (_ZSTD_HEADER if first else b"") + _zstd_raw_blocks(data)

    def finish(self) -> bytes:
        if self.coding == "identity":
            return b""
        first, self._started = not self._started, True
        if self.coding == "gzip":
            trailer = self._check.to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little")
            return (_GZIP_HEADER if first else b"") + _DEFLATE_LAST_EMPTY + trailer
        if self.coding == "deflate":
            return (_ZLIB_HEADER if first else b"") + _DEFLATE_LAST_EMPTY + self._check.to_bytes(4, "big")
        if self.coding == "br":
            return b"\x06" if first else b"\x03"  # (WBITS=16,) ISLAST=1, ISLASTEMPTY=1
        return (_ZSTD_HEADER if first else b"") + _ZSTD_LAST_EMPTY


# RFC 1952: ID1 ID2, CM=8 (deflate), no flags, no MTIME, no XFL, OS=255 (unknown)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# RFC 1950: CMF=0x78 (deflate, 32 KiB window), FLG=0x01 (no dictionary, FLEVEL 0; 0x7801 is a multiple of 31)
_ZLIB_HEADER = b"\x78\x01"
_DEFLATE_STORED_MAX = 0xFFFF
# RFC 1951: BFINAL=1, BTYPE=00 (stored), LEN=0, NLEN=0xFFFF
_DEFLATE_LAST_EMPTY = b"\x01\x00\x00\xff\xff"


def _deflate_stored_blocks(data: bytes) -> bytes:
    """RFC 1951 stored blocks (none of them final), each starting on a byte boundary: header byte, LEN, NLEN."""
    return _blocks(data, _DEFLATE_STORED_MAX,
                   lambda size: b"\x00" + size.to_bytes(2, "little") + (size ^ 0xFFFF).to_bytes(2, "little"))


def _blocks(data: bytes, limit: int, header: Callable[[int], bytes]) -> bytes:
    """``data`` in blocks of at most ``limit`` bytes, each after the header ``header(its length)``."""
    out = bytearray()
    view = memoryview(data)
    for start in range(0, len(data), limit):
        block = view[start:start + limit]
        out += header(len(block))
        out += block
    return bytes(out)


_BR_CHUNK = 1 << 20  # MLEN - 1 = 0xFFFFF: five nibbles, the top one non-zero as the format requires


def _brotli_meta_blocks(data: bytes, first: bool) -> bytes:
    """RFC 7932: uncompressed meta-blocks (none of them last); the first also carries WBITS=16 (a single 0 bit)."""
    out = bytearray()
    acc, nbits = 0, int(first)  # the WBITS bit (0) is already "written"
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
    return bytes(out)


_ZSTD_BLOCK = 1 << 17  # 128 KiB, the largest block; needs a window of at least that (Window_Log 17)
# RFC 8878: a frame header (no content size, no checksum, Window_Log 17); a last, empty raw block ends the frame
_ZSTD_HEADER = b"\x28\xb5\x2f\xfd\x00" + bytes([(17 - 10) << 3])
_ZSTD_LAST_EMPTY = b"\x01\x00\x00"


def _zstd_raw_blocks(data: bytes) -> bytes:
    """Raw blocks (Block_Type 0), none of them last."""
    return _blocks(data, _ZSTD_BLOCK, lambda size: (size << 3).to_bytes(3, "little"))
