"""Where the loader goes in an HTML document, found in the raw bytes, and byte-level edits.

The page is never decoded to text: a document in Shift_JIS or EUC-KR declared only in ``<meta>`` must come out
byte-identical apart from what we splice in. That works because the bytes this scanner looks at (``<``, ``>``,
quotes, ``=``, ASCII whitespace and letters) never occur inside a multi-byte character of the ASCII-compatible
encodings the web uses; the snippet we insert is pure ASCII for the same reason.

``scan_head`` walks the document prologue the way a browser's parser would see it, only far enough to decide:

    [BOM] [<?xml ?>] [comments] <!DOCTYPE html> <html> <head> <meta charset=...> <title>..</title> | <script>
                                                                                                   ^ before the first script
    ... <body ...> | first body content         (no script in the head: at the start of <body>)
    | hello <b>fragment</b>                      (no head, no body: at the start of the content)

never before a BOM, doctype or ``<meta charset>``, never inside a comment, ``<noscript>``, ``<template>`` or the
text of a script, style or title element. When no safe point exists (an unterminated comment, UTF-16, a stateful
ISO-2022 encoding before the point) the answer is None and the page is left alone.
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple

__all__ = ["Attr", "Edit", "HeadScan", "Tag", "apply_edits", "attr_value_edit", "meta_csp_content", "scan_head"]

_WS = b" \t\n\r\f"
_HEAD_TAGS = frozenset({"html", "head", "meta", "link", "base", "title", "style", "script", "noscript", "template"})
# Elements whose content is text to the parser (or inert): skipped as a whole, never scanned for tags.
_SKIP_TO_CLOSE = {name: re.compile(rb"</" + name.encode() + rb"[\s/>]", re.IGNORECASE)
                  for name in ("script", "style", "title", "noscript", "template")}
_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Attr(NamedTuple):
    name: str  # lower case
    value: bytes
    value_start: int  # span of the value bytes (inside the quotes); equal to the name end when valueless
    value_end: int
    quote: bytes  # b'"', b"'" or b"" (unquoted or no value)


class Tag(NamedTuple):
    name: str  # lower case
    start: int
    end: int  # just past ">"
    attrs: tuple[Attr, ...]

    def attr(self, name: str) -> Attr | None:
        return next((a for a in self.attrs if a.name == name), None)


class Edit(NamedTuple):
    """Replace ``body[start:end]`` with ``data`` (an insertion when start == end)."""

    start: int
    end: int
    data: bytes


class HeadScan(NamedTuple):
    insert_at: int | None  # None: no safe insertion point, leave the page alone
    reason: str  # why there (or why not): for logs and tests
    meta_csp: tuple[Tag, ...]  # <meta http-equiv="Content-Security-Policy"> tags in the head
    more: bool = False  # only with complete=False: the answer depends on bytes that have not arrived yet


_NEED_MORE = HeadScan(None, "needs more of the page", (), more=True)


def scan_head(body: bytes, *, xml: bool = False, complete: bool = True) -> HeadScan:
    """The loader's insertion point and the head's meta CSP tags; see the module docstring.

    ``complete=False``: ``body`` is the start of a page still arriving. The answer is then either final (the same
    as for the whole page) or ``more=True`` when the walk ran into the end of what has arrived."""
    if body[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in body[:64]:
        return HeadScan(None, "utf-16 or binary", ())
    if not complete and len(body) < 64:
        return _NEED_MORE
    marks = _walk_prologue(body)
    if marks.truncated and not complete:
        return _NEED_MORE
    if marks.failure is not None:
        return HeadScan(None, marks.failure, ())
    at, reason = _insertion_point(marks)
    if b"\x1b" in body[:at]:  # ISO-2022-*: an ASCII run here could land inside a shifted sequence
        return HeadScan(None, "stateful encoding", marks.metas)
    if xml and not marks.root_seen:  # XHTML: outside the root element the snippet would make the XML ill-formed
        return HeadScan(None, "xhtml without root", marks.metas)
    return HeadScan(at, reason, marks.metas)


@dataclass(slots=True)
class _Marks:
    """What the walk over the prologue saw, as byte offsets (None: not seen); filled in as the walk goes."""
    pos: int  # where the walk stopped: past the last construct it consumed
    min_pos: int  # past the BOM, doctype or <?xml ?>: nothing may go before it
    first_script: int | None = None
    body_start: int | None = None  # just past <body ...>
    content_start: int | None = None  # the first text or non-head element
    head_close: int | None = None
    charset_end: int | None = None  # just past the last <meta charset>
    root_seen: bool = False  # <html>, <head> or <body>
    metas: tuple[Tag, ...] = ()  # meta CSP tags
    failure: str | None = None  # why there is no safe point at all
    truncated: bool = False  # the walk stopped at the end of the bytes: more of them could change the answer


def _insertion_point(marks: _Marks) -> tuple[int, str]:
    """The best mark the walk found, then pushed past anything the loader must never precede."""
    preference = ((marks.first_script, "before first script"), (marks.body_start, "start of body"),
                  (marks.content_start, "start of content"), (marks.head_close, "end of head"),
                  (marks.pos, "end of document"))
    at, reason = next((at, reason) for at, reason in preference if at is not None)
    if marks.charset_end is not None and marks.charset_end > at:
        at, reason = marks.charset_end, "after meta charset"
    if marks.min_pos > at:
        at, reason = marks.min_pos, "after doctype"
    return at, reason


def _walk_prologue(body: bytes) -> _Marks:
    """Walks the leading markup up to the first text, ``<body>`` or non-head element, recording marks."""
    start = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    marks = _Marks(pos=start, min_pos=start)
    while True:
        i = marks.pos
        lt = body.find(b"<", i)
        text = body[i:] if lt < 0 else body[i:lt]
        if text.strip(_WS):
            marks.content_start = i + len(text) - len(text.lstrip(_WS))
            return marks
        if lt < 0:
            marks.truncated = True
            return marks
        marks.pos = lt
        nxt = body[lt + 1:lt + 2]
        if not nxt:  # a "<" as the last byte: markup or text, the next byte decides
            marks.truncated = True
        if body.startswith(b"<!--", lt):
            after = _comment(body, lt, marks)
        elif nxt in (b"!", b"?"):  # doctype, <?xml ...?>, bogus comments
            after = _declaration(body, lt, marks)
        elif nxt == b"/":
            after = _end_tag(body, lt, marks)
        elif nxt and nxt[0] in _LETTERS:
            after = _element(body, lt, marks)
        else:  # a "<" that starts no markup is text
            marks.content_start = lt
            after = None
        if after is None:
            return marks
        marks.pos = after


# Each construct below starts at ``body[i] == "<"`` and returns the position past it, or None when the walk ends
# there (the marks then say why).

def _comment(body: bytes, i: int, marks: _Marks) -> int | None:
    if body.startswith(b">", i + 4) or body.startswith(b"->", i + 4):  # "<!-->" and "<!--->" are empty
        return body.index(b">", i + 4) + 1
    k = body.find(b"-->", i + 4)
    if k < 0:
        marks.failure, marks.truncated = "unterminated comment", True
        return None
    return k + 3


def _declaration(body: bytes, i: int, marks: _Marks) -> int | None:
    k = body.find(b">", i)
    if k < 0:
        marks.failure, marks.truncated = "unterminated declaration", True
        return None
    word = body[i:i + 9].lower()
    if word == b"<!doctype" or word.startswith(b"<?xml"):
        marks.min_pos = k + 1
    return k + 1


def _end_tag(body: bytes, i: int, marks: _Marks) -> int | None:
    k = body.find(b">", i)
    if k < 0:
        marks.content_start, marks.truncated = i, True
        return None
    if body[i + 2:i + 7].lower() in (b"head>", b"head "):
        marks.head_close = i if marks.head_close is None else marks.head_close
    return k + 1


def _element(body: bytes, i: int, marks: _Marks) -> int | None:
    tag = _parse_tag(body, i)
    if tag is None:  # truncated tag: the content starts here
        marks.content_start, marks.truncated = i, True
        return None
    if tag.name == "body":
        marks.body_start = tag.end
        marks.root_seen = True
        return None
    if tag.name not in _HEAD_TAGS:
        marks.content_start = i
        return None
    marks.root_seen = marks.root_seen or tag.name in ("html", "head")
    if tag.name in _SKIP_TO_CLOSE:
        if tag.name == "script" and marks.first_script is None:
            marks.first_script = tag.start
        m = _SKIP_TO_CLOSE[tag.name].search(body, tag.end)  # None: the rest of the document is its text
        k = -1 if m is None else body.find(b">", m.start())
        if k < 0:
            marks.truncated = True
            return len(body)
        return k + 1
    if tag.name == "meta":
        kind = _meta_kind(tag)
        if kind == "charset":
            marks.charset_end = tag.end
        elif kind == "csp":
            marks.metas += (tag,)
    return tag.end


def _meta_kind(tag: Tag) -> str | None:
    if tag.attr("charset") is not None:
        return "charset"
    equiv = tag.attr("http-equiv")
    if equiv is None:
        return None
    name = equiv.value.strip().lower()
    if name == b"content-security-policy":
        return "csp"
    if name == b"content-type":
        content = tag.attr("content")
        if content is not None and b"charset" in content.value.lower():
            return "charset"
    return None


def _parse_tag(body: bytes, start: int) -> Tag | None:
    """A start tag at ``body[start] == "<"``; None if it runs off the end of the body."""
    n = len(body)
    j = start + 1
    while j < n and body[j] not in b" \t\n\r\f/>":
        j += 1
    name = body[start + 1:j].decode("latin-1").lower()
    attrs: list[Attr] = []
    while True:
        while j < n and body[j] in b" \t\n\r\f/":
            j += 1
        if j >= n:
            return None
        if body[j] == 0x3E:  # ">"
            return Tag(name, start, j + 1, tuple(attrs))
        name_start = j
        j += 1  # an attribute name may start with "="
        while j < n and body[j] not in b" \t\n\r\f/>=":
            j += 1
        attr_name = body[name_start:j].decode("latin-1").lower()
        k = j
        while k < n and body[k] in _WS:
            k += 1
        if k < n and body[k] == 0x3D:  # "="
            k += 1
            while k < n and body[k] in _WS:
                k += 1
            if k >= n:
                return None
            quote = body[k:k + 1]
            if quote in (b'"', b"'"):
                end = body.find(quote, k + 1)
                if end < 0:
                    return None
                attrs.append(Attr(attr_name, body[k + 1:end], k + 1, end, quote))
                j = end + 1
            else:
                end = k
                while end < n and body[end] not in b" \t\n\r\f>":
                    end += 1
                attrs.append(Attr(attr_name, body[k:end], k, end, b""))
                j = end
        else:
            attrs.append(Attr(attr_name, b"", j, j, b""))


def meta_csp_content(tag: Tag) -> str:
    """The policy text of a meta CSP tag, with character references resolved."""
    attr = tag.attr("content")
    if attr is None:
        return ""
    text = attr.value.decode("latin-1")
    return _html.unescape(text) if "&" in text else text


def attr_value_edit(tag: Tag, name: str, value: str) -> Edit | None:
    """An edit that sets the existing attribute ``name`` of ``tag`` to ``value`` (escaped, ASCII); None if absent."""
    attr = tag.attr(name)
    if attr is None:
        return None
    escaped = value.replace("&", "&amp;").replace('"', "&quot;").encode("ascii", "xmlcharrefreplace")
    if attr.quote == b"'":
        return Edit(attr.value_start, attr.value_end, escaped.replace(b"'", b"&#39;"))
    if attr.quote:
        return Edit(attr.value_start, attr.value_end, escaped)
    return Edit(attr.value_start, attr.value_end, b'"' + escaped + b'"')


def apply_edits(body: bytes, edits: Iterable[Edit]) -> bytes:
    """Applies non-overlapping edits; at one position an insertion goes before a replacement."""
    out: list[bytes] = []
    pos = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < pos:
            raise ValueError(f"overlapping edits at byte {edit.start}")
        out.append(body[pos:edit.start])
        out.append(edit.data)
        pos = edit.end
    out.append(body[pos:])
    return b"".join(out)
