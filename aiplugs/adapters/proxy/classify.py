"""Which requests are page navigations and which responses may carry the loader. Pure, on plain values.

Everything these functions turn down is streamed through untouched, so each rule errs on the side of "no".
"""

from __future__ import annotations

from typing import Literal, Mapping, NamedTuple

from .encoding import Coding, parse_coding

__all__ = [
    "API_PREFIX",
    "Navigation",
    "ResponseVerdict",
    "api_rest",
    "classify_request",
    "classify_response",
]

API_PREFIX = "/__aiplugs__/"

Navigation = Literal["document", "frame", "other"]
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_UNSAFE_CHARSETS = ("utf-16", "utf-32", "ucs-2", "ucs-4", "utf-7")


def classify_request(method: str, headers: Mapping[str, str]) -> Navigation:
    """A top-level document or frame navigation, or anything else.

    ``Sec-Fetch-Dest`` decides when present. Browsers omit fetch metadata on plain-HTTP origins that are not
    potentially trustworthy, so there the fallback is an ``Accept`` that prefers HTML and no XHR marker.
    """
    dest = headers.get("sec-fetch-dest")
    if dest is not None:
        dest = dest.strip().lower()
        if dest == "document":
            return "document"
        if dest in ("iframe", "frame"):
            return "frame"
        return "other"
    if method.upper() not in ("GET", "POST"):
        return "other"
    if headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return "other"
    if headers.get("sec-fetch-mode", "").lower() in ("cors", "no-cors", "same-origin", "websocket"):
        return "other"
    accept = headers.get("accept", "").lower()
    if "text/html" in accept or "application/xhtml+xml" in accept:
        return "document"
    return "other"


class ResponseVerdict(NamedTuple):
    inject: bool
    reason: str  # why not, or "ok"
    coding: Coding | None = None
    xml: bool = False


def _skip(reason: str) -> ResponseVerdict:
    return ResponseVerdict(False, reason)


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    main, *params = content_type.split(";")
    parsed = {}
    for p in params:
        key, sep, value = p.partition("=")
        if sep:
            parsed[key.strip().lower()] = value.strip().strip('"').lower()
    return main.strip().lower(), parsed


def classify_response(method: str, status: int, headers: Mapping[str, str]) -> ResponseVerdict:
    """Whether a response to a document request can be spliced (its body then streams through a ``Splice``)."""
    if method.upper() == "HEAD":
        return _skip("HEAD")
    if not 200 <= status < 300 or status in (204, 205, 206):
        return _skip(f"status {status}")
    mime, params = media_type(headers.get("content-type", ""))
    if mime not in _HTML_TYPES:
        return _skip(f"content-type {mime or 'missing'}")
    if params.get("charset", "").startswith(_UNSAFE_CHARSETS):
        return _skip(f"charset {params['charset']}")
    if "content-range" in headers:
        return _skip("partial content")
    if headers.get("content-disposition", "").strip().lower().startswith("attachment"):
        return _skip("attachment")
    length = headers.get("content-length")
    if length is not None and not length.strip().isdigit():
        return _skip("bad content-length")
    coding = parse_coding(headers.get("content-encoding"))
    if coding is None:
        return _skip(f"content-encoding {headers.get('content-encoding')}")
    return ResponseVerdict(True, "ok", coding, mime == "application/xhtml+xml")


def api_rest(path: str) -> str | None:
    """``/__aiplugs__/v1/x?y`` -> ``/v1/x?y``; None for any other path."""
    if path.startswith(API_PREFIX):
        return path[len(API_PREFIX) - 1:]
    return None
