"""The loader spliced into a page while the page streams through the proxy. Pure: bytes in, bytes out.

A ``Splice`` is the body transform mitmproxy calls with each piece of a page's body as it arrives
(``response.stream``) and with ``b""`` at its end. It decodes the pieces and holds them back only until
``scan_head`` can decide on what has arrived (the prologue, up to the first script or the body: usually within the
first piece), then sends the head with the loader and the meta CSP edits spliced in, and from there every piece as
it comes, re-encoded in stored blocks of the page's own coding. Nothing is buffered past the decision, so a page
reaches the browser as fast as it leaves the origin, however big it is.

When no safe insertion point turns up, the prologue runs past ``MAX_HEAD_BYTES`` or the body fails to decode before
the decision, the page's own bytes go out untouched. A page that stops decoding after the decision (a stream
corrupt half way, or one piece decoding past ``MAX_DECODED_BYTES``: a bomb; a long page is fine, the cap is per
piece) ends, as a valid stream, where its decodable part ends; ``error`` says so. The headers went out before the
body (that is what streaming is; ``inject.page_headers`` decides them from the response headers alone), so an
untouched page still carries the amended CSP and ``no-store``: both harmless without the loader.
"""

from __future__ import annotations

from typing import Callable, Literal

from . import csp as csp_mod
from .encoding import MAX_DECODED_BYTES, Coding, DecodeError, Decoder, StoredEncoder
from .html import Edit, HeadScan, apply_edits, attr_value_edit, meta_csp_content, scan_head

__all__ = ["MAX_HEAD_BYTES", "Splice", "head_edits"]

# A prologue (everything before the first script or the body) longer than this is not waited for: the page passes.
MAX_HEAD_BYTES = 4 * 1024 * 1024
# Up to this much prologue every piece is scanned as it arrives (cheap); beyond, only when the prologue doubled.
_SCAN_EVERY_PIECE = 64 * 1024


def head_edits(scan: HeadScan, *, csp: Literal["amend", "strip", "keep"], nonce: str | None,
               origin: str) -> tuple[list[Edit], bool]:
    """The meta CSP edits of a scanned head, and whether a meta policy requires Trusted Types."""
    edits: list[Edit] = []
    trusted_types = False
    if csp == "amend":
        assert nonce is not None
        for tag in scan.meta_csp:
            result = csp_mod.amend_header(meta_csp_content(tag), nonce=nonce, origin=origin)
            trusted_types = trusted_types or result.trusted_types
            if result.changed and (edit := attr_value_edit(tag, "content", result.text)) is not None:
                edits.append(edit)
    elif csp == "strip":
        edits.extend(Edit(tag.start, tag.end, b"") for tag in scan.meta_csp)
    return edits, trusted_types


class Splice:
    """One page's body transform; see the module docstring. ``snippet(nonce, trusted_types)`` renders the loader.

    After the end: ``reason`` says where the loader went or why the page passed untouched, ``injected`` whether it
    did, ``error`` what failed to decode (None: nothing).
    """

    def __init__(self, coding: Coding, *, snippet: Callable[[str | None, bool], bytes], xml: bool = False,
                 csp: Literal["amend", "strip", "keep"] = "keep", nonce: str | None = None, origin: str = "",
                 trusted_types: bool = False, max_head: int = MAX_HEAD_BYTES,
                 piece_limit: int = MAX_DECODED_BYTES) -> None:
        self._decoder = Decoder(coding, piece_limit)
        self._encoder = StoredEncoder(coding)
        self._snippet = snippet
        self._xml, self._csp, self._nonce, self._origin = xml, csp, nonce, origin
        self._trusted_types = trusted_types
        self._max_head = max_head
        self._raw: list[bytes] | None = []  # the page's own bytes, until the decision
        self._head = bytearray()  # decoded, until the decision
        self._scanned = 0  # head size at the last scan: scans are spaced so that waiting stays linear
        self.state: Literal["deciding", "spliced", "untouched", "ended"] = "deciding"
        self.reason = "page ended before a decision"
        self.injected = False
        self.error: Exception | None = None

    def __call__(self, data: bytes) -> list[bytes]:
        """What to send for this piece (``b""``: the end); never an empty piece (an empty chunk ends HTTP/1)."""
        out = self._piece(data) if data else self._end()
        return [piece for piece in out if piece]

    def _piece(self, data: bytes) -> list[bytes]:
        if self.state == "untouched":
            return [data]
        if self.state == "ended":
            return []
        if self._raw is not None:
            self._raw.append(data)
        else:  # nothing decoded is kept past the decision: only a piece that decodes past the cap is refused
            self._decoder.renew_limit()
        try:
            decoded = self._decoder.feed(data)
        except DecodeError as e:
            return self._broken(e)
        if self.state == "spliced":
            return [self._encoder.write(decoded)]
        self._head += decoded
        size = len(self._head)
        if size > self._max_head:
            return self._untouched(f"prologue longer than {self._max_head} bytes")
        if size < 2 * self._scanned:  # past 64 KiB, scan again once the head has doubled: linear work in all
            return []
        self._scanned = size if size > _SCAN_EVERY_PIECE else 0
        scan = scan_head(bytes(self._head), xml=self._xml, complete=False)
        return [] if scan.more else self._decide(scan)

    def _end(self) -> list[bytes]:
        if self.state == "deciding":
            try:
                self._head += self._decoder.finish()
            except DecodeError as e:
                return self._broken(e)
            out = self._decide(scan_head(bytes(self._head), xml=self._xml))
        elif self.state == "spliced":
            try:
                out = [self._encoder.write(self._decoder.finish())]
            except DecodeError as e:
                self.error, out = e, []
        else:
            out = []
        if self.state == "spliced":
            out.append(self._encoder.finish())
        self.state = "ended"
        return out

    def _decide(self, scan: HeadScan) -> list[bytes]:
        if scan.insert_at is None:
            return self._untouched(scan.reason)
        edits, meta_trusted_types = head_edits(scan, csp=self._csp, nonce=self._nonce, origin=self._origin)
        snippet = self._snippet(self._nonce, self._trusted_types or meta_trusted_types)
        edits.append(Edit(scan.insert_at, scan.insert_at, snippet))
        head = apply_edits(bytes(self._head), edits)
        self.state, self.reason, self.injected = "spliced", scan.reason, True
        self._raw, self._head = None, bytearray()
        return [self._encoder.write(head)]

    def _untouched(self, reason: str) -> list[bytes]:
        raw = self._raw or []
        self.state, self.reason = "untouched", reason
        self._raw, self._head = None, bytearray()
        return raw

    def _broken(self, error: DecodeError) -> list[bytes]:
        self.error = error
        if self.state == "deciding":  # nothing sent yet: the page's own bytes, as the origin sent them
            return self._untouched(f"undecodable: {error}")
        # Sent in part already: end the stream cleanly where the decodable part ends, take nothing more.
        self.state = "ended"
        return [self._encoder.finish()]
