"""A page's JSON goes to the worker as it was sent, and the worker's answer back as it sent it: the same values
and statuses as decoding and encoding each time, whatever the spelling of the body."""

from __future__ import annotations

import json

import pytest


def compact(value: object) -> bytes:
    """What Starlette's JSONResponse renders."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("body", [
    b'{"text": "hi"}',
    b'  {"b":2,"a":[1, 2.5, -0.0, 1e300, 123456789012345678901234567890]}\n',
    '{"t": "h\u00e9llo \u4e16\u754c \U0001f600", "k": "\ud55c\uad6d\uc5b4"}'.encode(),
    b'{"esc": "\\u00e9\\n\\"q\\"\\t\\\\", "emoji": "\\ud83d\\ude00"}',
    b'\xef\xbb\xbf{"bom": true}',
    b'"just a string"',
    b"null",
    b"",
])
async def test_any_spelling_reaches_the_backend_as_its_value(router, body: bytes) -> None:
    r = await router.client.post("/v1/plugins/echo/run", content=body,
                                 headers=router.page(**{"Content-Type": "application/json"}))
    expected = json.loads(body) if body.strip() else {}
    assert r.status_code == 200 and r.json()["echo"] == expected
    assert r.content.startswith(b'{"echo":' + compact(expected)) and r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("body", [b'{"x": NaN}', b'{"x": -Infinity}', b'{"x": "\\udc00"}'])
async def test_payloads_json_cannot_carry_fail_as_before(router, body: bytes) -> None:
    r = await router.client.post("/v1/plugins/echo/run", content=body, headers=router.page())
    assert r.status_code == 500 and r.json()["error"]["type"] == "TypeError"
    assert "not JSON serializable" in r.json()["error"]["message"]


async def test_bad_json_is_still_400(router) -> None:
    for body in (b'{"x": ', b"\xff\xfe{}", b'{"a": 1} {"b": 2}'):
        r = await router.client.post("/v1/plugins/echo/run", content=body, headers=router.page())
        assert r.status_code == 400 and r.json()["error"]["type"] == "bad_json"
