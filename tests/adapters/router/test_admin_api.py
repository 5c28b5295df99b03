"""json_object on plain request bodies: an empty body, JSON that is not an object, and text that is not JSON (the
routes' answers to them are tested in test_installs.py on the real router)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from aiplugs.adapters.router.admin_api import json_object


def _request(body: bytes) -> Request:
    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)


async def test_an_object_is_returned_and_an_empty_body_is_one_unless_the_route_needs_content() -> None:
    assert await json_object(_request(b'{"a": 1}')) == {"a": 1}
    assert await json_object(_request(b"  \n")) == {}
    with pytest.raises(ValueError, match=r'^request body must be a JSON object: \{"uri": \.\.\.\}$'):
        await json_object(_request(b""), '{"uri": ...}', empty_is_object=False)


@pytest.mark.parametrize(("body", "message"), [
    (b"[1, 2]", "request body must be a JSON object"),
    (b"not json", "request body is not JSON: Expecting value: line 1 column 1 (char 0)"),
])
async def test_anything_else_names_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        await json_object(_request(body))
    assert str(raised.value) == message
