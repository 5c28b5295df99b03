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


def scan_head(body: bytes, *, xml: bool = False) -> HeadScan:
    """The loader's insertion point and the head's meta CSP tags; see the module docstring."""
    n = len(body)
    if body[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in body[:64]:
        return HeadScan(None, "utf-16 or binary", ())
    i = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    min_pos = i
    first_script = body_start = content_start = head_close = charset_end = None
    root_seen = False
    metas: list[Tag] = []
    while True:
        lt = body.find(b"<", i)
        stop = n if lt < 0 else lt
        if not body[i:stop].strip(_WS) == b"":
            text = body[i:stop]
            content_start = i + len(text) - len(text.lstrip(_WS))
            break
        if lt < 0:
            break
        i = lt
        nxt = body[i + 1:i + 2]
        if body.startswith(b"<!--", i):
            if body.startswith(b">", i + 4) or body.startswith(b"->", i + 4):  # "<!-->" and "<!--->" are empty
                i = body.index(b">", i + 4) + 1
                continue
            k = body.find(b"-->", i + 4)
            if k < 0:
                return HeadScan(None, "unterminated comment", ())
            i = k + 3
        elif nxt in (b"!", b"?"):  # doctype, <?xml ...?>, bogus comments
            k = body.find(b">", i)
            if k < 0:
                return HeadScan(None, "unterminated declaration", ())
            word = body[i:i + 9].lower()
            if word == b"<!doctype" or word.startswith(b"<?xml"):
                min_pos = k + 1
            i = k + 1
        elif nxt == b"/":
            k = body.find(b">", i)
            if k < 0:
                content_start = i
                break
            if body[i + 2:i + 7].lower() == b"head>" or body[i + 2:i + 7].lower() == b"head ":
                head_close = i if head_close is None else head_close
            i = k + 1
        elif nxt and nxt[0] in _LETTERS:
            tag = _parse_tag(body, i)
            if tag is None:  # truncated tag: the content starts here
                content_start = i
                break
            if tag.name == "body":
                body_start = tag.end
                root_seen = True
                break
            if tag.name not in _HEAD_TAGS:
                content_start = i
                break
            root_seen = root_seen or tag.name in ("html", "head")
            i = tag.end
            if tag.name in _SKIP_TO_CLOSE:
                if tag.name == "script" and first_script is None:
                    first_script = tag.start
                m = _SKIP_TO_CLOSE[tag.name].search(body, i)
                if m is None:  # the rest of the document is this element's text
                    i = n
                    break
                k = body.find(b">", m.start())
                i = n if k < 0 else k + 1
            elif tag.name == "meta":
                kind = _meta_kind(tag)
                if kind == "charset":
                    charset_end = tag.end
                elif kind == "csp":
                    metas.append(tag)
        else:  # a "<" that starts no markup is text
            content_start = i
            break

    if first_script is not None:
        at, reason = first_script, "before first script"
    elif body_start is not None:
        at, reason = body_start, "start of body"
    elif content_start is not None:
        at, reason = content_start, "start of content"
    elif head_close is not None:
        at, reason = head_close, "end of head"
    else:
        at, reason = min(i, n), "end of document"
    if charset_end is not None and charset_end > at:
        at, reason = charset_end, "after meta charset"
    if min_pos > at:
        at, reason = min_pos, "after doctype"
    if b"\x1b" in body[:at]:  # ISO-2022-*: an ASCII run here could land inside a shifted sequence
        return HeadScan(None, "stateful encoding", tuple(metas))
    if xml and not root_seen:  # XHTML: outside the root element the snippet would make the XML ill-formed
        return HeadScan(None, "xhtml without root", tuple(metas))
    return HeadScan(at, reason, tuple(metas))


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
