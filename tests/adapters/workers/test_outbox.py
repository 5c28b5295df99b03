"""The outbox over a real socket pair: threads writing their own frames (some far bigger than the socket takes at
once) while the loop writes its batches, and what the other end reads: whole frames, each thread's in its order,
a frame for a call given up on never sent, outcomes handed to the loop in order."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

from aiplugs.adapters.workers.outbox import Outbox
from aiplugs.adapters.workers.protocol import HEADER, FrameLink, encode_frame


def read_frames(sock: socket.socket, count: int) -> list[dict]:
    """``count`` frames from the other end (blocking), parsed."""
    data, frames = bytearray(), []
    while len(frames) < count:
        chunk = sock.recv(1 << 20)
        assert chunk, f"EOF after {len(frames)} frames"
        data += chunk
        while len(data) >= HEADER.size:
            (size,) = HEADER.unpack_from(data)
            if len(data) < HEADER.size + size:
                break
            frames.append(json.loads(bytes(data[HEADER.size:HEADER.size + size])))
            del data[:HEADER.size + size]
    return frames


async def test_threads_and_the_loop_write_whole_frames_each_in_its_order() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    loop = asyncio.get_running_loop()
    link = FrameLink(lambda body: None, lambda error: None)
    await loop.create_unix_connection(lambda: link, sock=ours)
    taken: list[tuple] = []
    wanted = {i for i in range(1000) if i != 7}  # call 7 was given up on
    outbox = Outbox(loop, link, ours, taken.append, lambda call_id: call_id in wanted)
    threads, per_thread = 4, 30
    expected = threads * per_thread - 1 + 20  # one answer dropped; 20 frames from the loop
    got: list[list[dict]] = []
    reader = threading.Thread(target=lambda: got.append(read_frames(theirs, expected)))
    reader.start()

    def work(t: int) -> None:
        for i in range(per_thread):
            pad = "é" * (700_000 if i % 10 == 3 else 10)  # some frames ~1.4 MB: written in parts
            frame = encode_frame({"id": t * 100 + i, "kind": "result", "value": {"t": t, "i": i, "pad": pad}})
            outbox.hand_over(frame, answers=t * 100 + i)
        outbox.hand_over((t * 100 + 99, "run", (False, ValueError("late"))))  # needs the loop

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for k in range(20):
        outbox.send({"id": 0, "kind": "publish", "topic": "x/y", "data": {"loop": k}})
        await asyncio.sleep(0.001)
    while any(w.is_alive() for w in workers):
        await asyncio.sleep(0.01)
    await asyncio.to_thread(reader.join, 30)
    frames = got[0]
    assert len(frames) == expected
    for t in range(threads):
        seen = [f["value"]["i"] for f in frames if f.get("kind") == "result" and f["value"]["t"] == t]
        assert seen == [i for i in range(per_thread) if t * 100 + i != 7]
    assert [f["data"]["loop"] for f in frames if f.get("kind") == "publish"] == list(range(20))
    await asyncio.sleep(0.05)
    assert sorted(o[0] for o in taken) == [t * 100 + 99 for t in range(threads)]  # each outcome to the loop
    link.close()
    theirs.close()
