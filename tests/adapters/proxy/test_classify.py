"""Request and response classification (plain values)."""

from __future__ import annotations

import pytest

from aiplugs.adapters.proxy.classify import api_rest, classify_request, classify_response

HTML = {"content-type": "text/html; charset=utf-8"}


@pytest.mark.parametrize("method, headers, expected", [
    ("GET", {"sec-fetch-dest": "document", "accept": "text/html"}, "document"),
    ("GET", {"sec-fetch-dest": "iframe"}, "frame"),
    ("GET", {"sec-fetch-dest": "frame"}, "frame"),
    ("GET", {"sec-fetch-dest": "empty", "accept": "text/html"}, "other"),  # fetch() asking for HTML
    ("GET", {"sec-fetch-dest": "script"}, "other"),
    ("GET", {"sec-fetch-dest": "image", "accept": "image/avif,*/*"}, "other"),
    # plain HTTP without fetch metadata: Accept decides, XHR never counts
    ("GET", {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}, "document"),
    ("POST", {"accept": "text/html"}, "document"),
    ("GET", {"accept": "text/html", "x-requested-with": "XMLHttpRequest"}, "other"),
    ("GET", {"accept": "*/*"}, "other"),
    ("GET", {}, "other"),
    ("PUT", {"accept": "text/html"}, "other"),
])
def test_classify_request(method: str, headers: dict[str, str], expected: str) -> None:
    assert classify_request(method, headers) == expected


@pytest.mark.parametrize("method, status, headers, reason", [
    ("GET", 200, HTML, "ok"),
    ("GET", 200, {"content-type": "application/xhtml+xml"}, "ok"),
    ("GET", 200, {**HTML, "content-encoding": "br"}, "ok"),
    ("HEAD", 200, HTML, "HEAD"),
    ("GET", 204, HTML, "status 204"),
    ("GET", 206, {**HTML, "content-range": "bytes 0-1/2"}, "status 206"),
    ("GET", 304, HTML, "status 304"),
    ("GET", 101, HTML, "status 101"),
    ("GET", 404, HTML, "status 404"),
    ("GET", 302, HTML, "status 302"),
    ("GET", 200, {"content-type": "text/event-stream"}, "content-type text/event-stream"),
    ("GET", 200, {"content-type": "application/json"}, "content-type application/json"),
    ("GET", 200, {}, "content-type missing"),
    ("GET", 200, {"content-type": "text/html; charset=UTF-16LE"}, "charset utf-16le"),
    ("GET", 200, {**HTML, "content-encoding": "gzip, br"}, "content-encoding gzip, br"),
    ("GET", 200, {**HTML, "content-encoding": "compress"}, "content-encoding compress"),
    ("GET", 200, {**HTML, "content-disposition": "attachment; filename=a.html"}, "attachment"),
    ("GET", 200, {**HTML, "content-length": "12, 13"}, "bad content-length"),
])
def test_classify_response(method: str, status: int, headers: dict[str, str], reason: str) -> None:
    verdict = classify_response(method, status, headers)
    assert verdict.reason == reason
    assert verdict.inject == (reason == "ok")


def test_xhtml_flag_and_coding() -> None:
    verdict = classify_response("GET", 200, {"content-type": "application/xhtml+xml", "content-encoding": "gzip"})
    assert verdict.xml and verdict.coding == "gzip"


def test_api_rest() -> None:
    assert api_rest("/__aiplugs__/v1/plugins/x/run?a=1") == "/v1/plugins/x/run?a=1"
    assert api_rest("/__aiplugs__") is None
    assert api_rest("/other/__aiplugs__/x") is None
