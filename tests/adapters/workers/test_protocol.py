"""The frame codec as plain values: a payload whose JSON is at hand goes out as it is, and a result frame's value
can be read back as the text the worker sent; FrameLink takes whole frames however the bytes arrive."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import pytest

from aiplugs.adapters.workers.protocol import HEADER, MAX_FRAME, Encoded, FrameLink, encode_frame, result_text


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


def feed(link: FrameLink, data: bytes) -> None:
    """What the transport does with bytes that arrive: read them into the link's buffer (at most what it offers
    per read), then say how many came, the view still held (the buffer must not move while it is)."""
    rest = memoryview(data)
    while rest:
        buf = link.get_buffer(-1)
        n = min(len(buf), len(rest))
        buf[:n] = rest[:n]
        link.buffer_updated(n)
        rest = rest[n:]
        del buf


def test_frame_link_hands_on_whole_frames_only_and_ends_at_eof() -> None:
    got: list[bytes] = []
    ended: list[BaseException | None] = []
    link = FrameLink(got.append, ended.append)
    feed(link, encode_frame({"id": 1}) + encode_frame({"id": 2})[:3])
    link.eof_received()
    link.connection_lost(None)
    assert got == [b'{"id":1}']  # the cut frame never reaches on_frame
    assert ended == [None]


def test_frame_link_takes_frames_however_the_bytes_are_split() -> None:
    messages = [{"id": i, "text": "é" * (i * 700)} for i in range(6)]
    data = b"".join(encode_frame(m) for m in messages)
    for chunk in (1, 3, 4, 5, 999, 4096, len(data)):
        got: list[bytes] = []
        ended: list[BaseException | None] = []
        link = FrameLink(got.append, ended.append)
        for start in range(0, len(data), chunk):
            feed(link, data[start:start + chunk])
        assert [json.loads(body) for body in got] == messages and ended == []
        assert all(type(body) is bytes for body in got)


def test_frame_link_holds_frames_bigger_than_its_buffer_and_gives_the_room_back() -> None:
    small = [{"id": i, "text": "x" * 100} for i in range(3)]
    big = {"id": 99, "text": "é" * (FrameLink.READ_SIZE * 5)}  # ~10x the buffer in UTF-8
    frames = [encode_frame(m) for m in (small[0], big, small[1], big, small[2])]
    data = b"".join(frames)
    for chunk in (7, 4096, FrameLink.READ_SIZE - 1, len(data)):
        got: list[bytes] = []
        link = FrameLink(got.append, lambda e: None)
        for start in range(0, len(data), chunk):
            feed(link, data[start:start + chunk])
        assert [json.loads(body) for body in got] == [small[0], big, small[1], big, small[2]]
        assert len(link.get_buffer(-1)) <= FrameLink.READ_SIZE  # all read: back to its usual size


def test_frame_link_ends_on_an_oversized_or_garbled_frame() -> None:
    ended: list[BaseException | None] = []
    feed(FrameLink(lambda body: None, ended.append), struct.pack("!I", MAX_FRAME + 1))
    assert isinstance(ended[0], ValueError)

    def garbled(body: bytes) -> None:
        json.loads(body)

    got: list[BaseException | None] = []
    link = FrameLink(garbled, got.append)
    feed(link, encode_frame({"id": 1})[:4] + b"{nope" + encode_frame({"id": 2}))
    feed(link, encode_frame({"id": 3}))  # after the end: ignored
    assert len(got) == 1 and isinstance(got[0], ValueError)


async def test_frame_link_reads_a_socket_only_once_resumed() -> None:
    ours, theirs = socket.socketpair()
    got: list[bytes] = []
    ended = asyncio.get_running_loop().create_future()
    link = FrameLink(got.append, ended.set_result, paused=True)
    ours.setblocking(False)
    await asyncio.get_running_loop().create_unix_connection(lambda: link, sock=ours)
    theirs.sendall(encode_frame({"id": 1}) + encode_frame({"id": 2}))
    theirs.close()
    await asyncio.sleep(0.05)
    assert got == [] and not ended.done()
    link.resume()
    assert await asyncio.wait_for(ended, 5) is None
    assert got == [b'{"id":1}', b'{"id":2}']
    link.write(b"after the end: dropped")
    with pytest.raises(ConnectionResetError):
        await link.drain()


def _outcome(encode: object, value: object) -> tuple[str, str]:
    try:
        return "ok", encode(value)  # type: ignore[operator]
    except Exception as e:
        return type(e).__name__, str(e)


def test_frames_encode_as_the_json_encoder_would_with_the_same_errors() -> None:
    from aiplugs.adapters.workers.protocol import encode_json as _encode

    reference = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    cycle: dict[str, object] = {"a": []}
    cycle["a"].append(cycle)  # type: ignore[attr-defined]
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(5000):
        inner["x"] = inner = {}
    values = [{"id": 1, "kind": "result", "value": {"t": "é\u2028\ud800", "n": [1, 2.5, -0.0, 1e300, True, None]}},
              {"v": float("nan")}, {"v": object()}, {"v": {1, 2}}, {2: "k", None: 3, 1.5: 4, True: 5}, {(1, 2): 3},
              cycle, deep, ["a list"], "text"]
    for value in values:
        assert _outcome(_encode, value) == _outcome(reference, value)
