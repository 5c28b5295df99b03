"""The frame codec as plain values: a payload whose JSON is at hand goes out as it is, and a result frame's value
can be read back as the text the worker sent."""

from __future__ import annotations

import asyncio
import json

import pytest

from aiplugs.adapters.workers.protocol import HEADER, MAX_FRAME, Encoded, encode_frame, read_body, result_text


def decoded(frame: bytes) -> object:
    (size,) = HEADER.unpack(frame[:HEADER.size])
    assert size == len(frame) - HEADER.size
    return json.loads(frame[HEADER.size:])


def test_an_encoded_payload_goes_out_as_its_text() -> None:
    text = b' {"b": 2, "a": "\xc3\xa9"} '
    frame = encode_frame({"id": 7, "op": "run", "payload": Encoded(json.loads(text), text), "tool": "t"})
    assert text in frame
    assert decoded(frame) == {"id": 7, "op": "run", "tool": "t", "payload": {"b": 2, "a": "é"}}
    assert decoded(encode_frame({"payload": Encoded([1], b"[1]")})) == {"payload": [1]}
    assert decoded(encode_frame({"id": 1, "payload": {"x": 1}})) == {"id": 1, "payload": {"x": 1}}


def test_frames_stay_within_the_limit() -> None:
    with pytest.raises(ValueError, match="frame limit"):
        encode_frame({"id": 1, "payload": Encoded(None, b"0" * (MAX_FRAME + 1))})
    with pytest.raises(ValueError):
        encode_frame({"x": float("nan")})


def test_result_text_is_the_value_as_sent() -> None:
    value = {"text": "héllo", "n": [1, 2.5, None]}
    body = encode_frame({"id": 42, "kind": "result", "value": value})[HEADER.size:]
    text = result_text(json.loads(body), body)
    assert text == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(text) == value
    other = b'{"kind":"result","id":42,"value":1}'  # not laid out as the harness lays out a result
    assert result_text(json.loads(other), other) is None
    wrong_id = encode_frame({"id": 4, "kind": "result", "value": 1})[HEADER.size:]
    assert result_text({"id": 42, "kind": "result", "value": 1}, wrong_id) is None


async def test_read_body_reads_frames_and_stops_at_eof() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_frame({"id": 1}) + encode_frame({"id": 2})[:3])
    reader.feed_eof()
    assert await read_body(reader) == b'{"id":1}'
    assert await read_body(reader) is None
